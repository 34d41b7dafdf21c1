"""RFC 8693 token exchange at /token, through the real ASGI app: the issued token, every refusal, the audit trail.

Refusals of the subject token are ``invalid_request`` (RFC 8693 §2.2.2). Each refusal sits next to its positive
control: the same client and token succeed once the offending part of the request is fixed.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from exchange_support import (
    BILLING,
    LEDGER,
    REPORTS,
    REPORTS_API,
    STATIC_CLIENT,
    audit_events,
    decode_with_jwks,
    exchange,
    exchange_env,
    tokens_for,
    unverified_claims,
)
from joserfc import jwt
from joserfc.jwk import ECKey

from deputy.broker.exchange import ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE
from deputy.oauth.tokens import mint_access_token
from support import APP_REDIRECT, DEPUTY, MCP_HEADERS, RESOURCE, Env

pytestmark = pytest.mark.anyio


@pytest.fixture
def xenv(tmp_path: Path) -> Iterator[Env]:
    env = exchange_env(
        tmp_path,
        clients=[{"client_id": STATIC_CLIENT, "client_name": "Billing bot", "redirect_uris": [APP_REDIRECT]}],
    )
    yield env
    env.ctx.store.db.dispose()


async def test_happy_path_issues_an_audience_bound_short_lived_token_with_act(xenv: Env) -> None:
    client, tokens = await xenv.full_flow(scope="crm.read crm.write")
    subject = tokens["access_token"]
    r = await exchange(xenv, client["client_id"], subject, audience=REPORTS)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"access_token", "issued_token_type", "token_type", "expires_in", "scope"}  # no refresh token
    assert body["issued_token_type"] == ACCESS_TOKEN_TYPE and body["token_type"] == "Bearer"
    assert body["expires_in"] == 60 and body["scope"] == "crm.read"  # the reports service's policy narrows it

    decoded = await decode_with_jwks(xenv, body["access_token"])  # verifies against the published keys only
    claims, original = decoded.claims, unverified_claims(subject)
    assert decoded.header["typ"] == "at+jwt" and decoded.header["alg"] == "ES256"
    assert claims["iss"] == DEPUTY and claims["aud"] == REPORTS
    assert claims["sub"] == original["sub"] and claims["client_id"] == client["client_id"]
    assert claims["act"] == {"sub": client["client_id"]}
    assert claims["scope"] == "crm.read" and claims["jti"] != original["jti"]
    assert claims["exp"] - claims["iat"] == 60 and claims["exp"] <= original["exp"]
    assert "gid" not in claims

    [event] = audit_events(xenv, "token.exchanged")
    assert (event["client_id"], event["user_id"], event["outcome"]) == (client["client_id"], original["sub"], "ok")
    assert event["detail"]["audience"] == REPORTS and event["detail"]["scope"] == "crm.read"
    dump = repr(audit_events(xenv, "token.exchanged"))
    assert subject not in dump and body["access_token"] not in dump


async def test_resource_names_the_service_and_jwt_type_is_echoed(xenv: Env) -> None:
    client, tokens = await xenv.full_flow()
    r = await exchange(
        xenv,
        client["client_id"],
        tokens["access_token"],
        resource=REPORTS_API,
        requested_token_type=JWT_TOKEN_TYPE,
        subject_token_type=JWT_TOKEN_TYPE,
    )
    assert r.status_code == 200, r.text
    assert r.json()["issued_token_type"] == JWT_TOKEN_TYPE
    assert unverified_claims(r.json()["access_token"])["aud"] == REPORTS  # the audience, whatever identifier was used


async def test_audience_and_resource_may_repeat_when_they_name_one_service(xenv: Env) -> None:
    client, tokens = await xenv.full_flow()
    r = await exchange(
        xenv, client["client_id"], tokens["access_token"], audience=[REPORTS, REPORTS_API], resource=[REPORTS_API]
    )
    assert r.status_code == 200, r.text


async def test_the_new_token_never_outlives_the_subject_token(xenv: Env) -> None:
    client, tokens = await xenv.full_flow()
    subject_exp = unverified_claims(tokens["access_token"])["exp"]
    xenv.clock.advance(subject_exp - xenv.clock.now() - 100)  # 100 s left; the ledger service grants 300
    r = await exchange(xenv, client["client_id"], tokens["access_token"], audience=LEDGER)
    assert r.status_code == 200, r.text
    assert r.json()["expires_in"] == 100 and unverified_claims(r.json()["access_token"])["exp"] == subject_exp


@pytest.mark.parametrize(
    "target",
    [
        {"audience": "https://unknown.example"},
        {"resource": "https://unknown.example/api"},
        {"audience": RESOURCE},  # Deputy's own MCP resource is not a downstream service
        {"audience": BILLING, "resource": REPORTS_API},  # two different services
        {"audience": [REPORTS, LEDGER]},
    ],
)
async def test_targets_outside_the_configuration_are_invalid_target(xenv: Env, target: dict[str, Any]) -> None:
    client, tokens = await xenv.full_flow()
    r = await exchange(xenv, client["client_id"], tokens["access_token"], **target)
    assert (r.status_code, r.json()["error"]) == (400, "invalid_target")
    [event] = audit_events(xenv, "token.exchange_refused")
    assert event["detail"]["error"] == "invalid_target" and event["client_id"] == client["client_id"]
    assert tokens["access_token"] not in repr(event)
    assert (await exchange(xenv, client["client_id"], tokens["access_token"], audience=REPORTS)).status_code == 200


async def test_a_scope_wider_than_the_subject_token_is_refused_never_widened(xenv: Env) -> None:
    client, tokens = await xenv.full_flow(scope="crm.read")
    r = await exchange(xenv, client["client_id"], tokens["access_token"], audience=LEDGER, scope="crm.read crm.write")
    assert (r.status_code, r.json()["error"]) == (400, "invalid_scope")
    r = await exchange(xenv, client["client_id"], tokens["access_token"], audience=LEDGER)
    assert r.status_code == 200 and r.json()["scope"] == "crm.read"  # the ledger allows write; the subject does not
    assert unverified_claims(r.json()["access_token"])["scope"] == "crm.read"
    [event] = audit_events(xenv, "token.exchange_refused")
    assert event["detail"]["error"] == "invalid_scope" and event["detail"]["audience"] == LEDGER


async def test_a_scope_beyond_the_service_policy_is_refused(xenv: Env) -> None:
    client, tokens = await xenv.full_flow(scope="crm.read crm.write")
    r = await exchange(xenv, client["client_id"], tokens["access_token"], audience=REPORTS, scope="crm.write")
    assert (r.status_code, r.json()["error"]) == (400, "invalid_scope")
    r = await exchange(xenv, client["client_id"], tokens["access_token"], audience=REPORTS, scope="crm.read")
    assert r.status_code == 200


def _b64(data: dict[str, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _subject_tokens(env: Env, own: str) -> dict[str, str]:
    """Tokens that must never be exchanged; ``own`` is a genuine subject token to derive forgeries from."""
    claims = unverified_claims(own)
    other_aud, _ = mint_access_token(
        env.ctx.keys.current_signing,
        issuer=DEPUTY,
        subject=claims["sub"],
        audience="https://other.example/mcp",
        client_id=claims["client_id"],
        scopes=("crm.read",),
        grant_id=claims["gid"],
        now=env.clock.now(),
        ttl=600,
    )
    foreign_key = ECKey.generate_key("P-256", private=True)
    forged = jwt.encode(
        {"alg": "ES256", "typ": "at+jwt", "kid": env.ctx.keys.current_signing.kid},
        claims,
        foreign_key,
        algorithms=["ES256"],
    )
    upstream = env.acme_app.state.acme_store.issue_tokens("deputy-demo", "alice", frozenset({"contacts:read"}), "g")
    return {
        "another audience": other_aud,
        "forged signature": forged,
        "upstream token": upstream.access.token,
        "garbage": "not-a-token",
        "alg none": _b64({"alg": "none", "typ": "at+jwt"}) + "." + own.split(".")[1] + ".",
    }


@pytest.mark.parametrize("kind", ["another audience", "forged signature", "upstream token", "garbage", "alg none"])
async def test_subject_tokens_that_are_not_deputys_own_are_refused(xenv: Env, kind: str) -> None:
    client, tokens = await xenv.full_flow()
    bad = _subject_tokens(xenv, tokens["access_token"])[kind]
    r = await exchange(xenv, client["client_id"], bad, audience=REPORTS)
    assert (r.status_code, r.json()["error"]) == (400, "invalid_request")
    assert "subject_token" in r.json()["error_description"]
    assert bad not in repr(audit_events(xenv, "token.exchange_refused"))


async def test_an_expired_subject_token_is_refused(xenv: Env) -> None:
    client, tokens = await xenv.full_flow()
    xenv.clock.advance(unverified_claims(tokens["access_token"])["exp"] - xenv.clock.now())  # expired right now
    r = await exchange(xenv, client["client_id"], tokens["access_token"], audience=REPORTS)
    assert (r.status_code, r.json()["error"]) == (400, "invalid_request")


async def test_a_revoked_subject_token_is_refused_at_once(xenv: Env) -> None:
    client, tokens = await xenv.full_flow()
    assert (await exchange(xenv, client["client_id"], tokens["access_token"], audience=REPORTS)).status_code == 200
    async with xenv.api() as api:
        revoked = await api.post("/revoke", data={"token": tokens["access_token"], "client_id": client["client_id"]})
    assert revoked.status_code == 200
    r = await exchange(xenv, client["client_id"], tokens["access_token"], audience=REPORTS)
    assert (r.status_code, r.json()["error"]) == (400, "invalid_request")
    [event] = audit_events(xenv, "token.exchange_refused")
    assert (
        event["detail"]["reason"] == "revoked" and event["user_id"] == unverified_claims(tokens["access_token"])["sub"]
    )


async def test_a_subject_token_of_a_revoked_grant_is_refused(xenv: Env) -> None:
    client, tokens = await xenv.full_flow()
    async with xenv.api() as api:
        await api.post("/revoke", data={"token": tokens["refresh_token"], "client_id": client["client_id"]})
    r = await exchange(xenv, client["client_id"], tokens["access_token"], audience=REPORTS)
    assert (r.status_code, r.json()["error"]) == (400, "invalid_request")


async def test_another_client_cannot_exchange_a_stolen_subject_token(xenv: Env) -> None:
    victim, tokens = await xenv.full_flow()
    thief = await xenv.register()
    r = await exchange(xenv, thief["client_id"], tokens["access_token"], audience=REPORTS)
    assert (r.status_code, r.json()["error"]) == (400, "invalid_request")
    [event] = audit_events(xenv, "token.exchange_refused")
    assert event["client_id"] == thief["client_id"] and event["detail"]["reason"] == "another client"
    assert (await exchange(xenv, victim["client_id"], tokens["access_token"], audience=REPORTS)).status_code == 200


async def test_a_confidential_client_must_present_its_secret(xenv: Env) -> None:
    confidential = await xenv.register(token_endpoint_auth_method="client_secret_basic")
    cid, secret = confidential["client_id"], confidential["client_secret"]
    tokens = await tokens_for(xenv, cid, secret=secret)
    r = await exchange(xenv, cid, tokens["access_token"], audience=REPORTS)
    assert (r.status_code, r.json()["error"]) == (401, "invalid_client")
    r = await exchange(xenv, None, tokens["access_token"], auth=(cid, "wrong-secret"), audience=REPORTS)
    assert (r.status_code, r.json()["error"]) == (401, "invalid_client")
    assert [e["detail"]["error"] for e in audit_events(xenv, "token.exchange_refused")] == ["invalid_client"] * 2
    r = await exchange(xenv, None, tokens["access_token"], auth=(cid, secret), audience=REPORTS)
    assert r.status_code == 200, r.text
    assert unverified_claims(r.json()["access_token"])["act"] == {"sub": cid}


async def test_an_unknown_client_is_invalid_client(xenv: Env) -> None:
    _, tokens = await xenv.full_flow()
    r = await exchange(xenv, "dcl_nobody", tokens["access_token"], audience=REPORTS)
    assert (r.status_code, r.json()["error"]) == (401, "invalid_client")


async def test_a_service_client_list_admits_only_the_listed_clients(xenv: Env) -> None:
    client, tokens = await xenv.full_flow()
    r = await exchange(xenv, client["client_id"], tokens["access_token"], audience=BILLING)
    assert (r.status_code, r.json()["error"]) == (400, "unauthorized_client")
    [event] = audit_events(xenv, "token.exchange_refused")
    assert event["detail"]["error"] == "unauthorized_client" and event["detail"]["service"] == "billing"
    listed = await tokens_for(xenv, STATIC_CLIENT)
    r = await exchange(xenv, STATIC_CLIENT, listed["access_token"], audience=BILLING)
    assert r.status_code == 200, r.text
    assert unverified_claims(r.json()["access_token"])["aud"] == BILLING


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"subject_token": None}, "invalid_request"),
        ({"subject_token_type": "urn:ietf:params:oauth:token-type:refresh_token"}, "invalid_request"),
        ({"actor_token": "x", "actor_token_type": ACCESS_TOKEN_TYPE}, "invalid_request"),
        ({"scope": ["crm.read", "crm.read"]}, "invalid_request"),  # only audience and resource may repeat
        ({"audience": None}, "invalid_request"),
    ],
)
async def test_malformed_requests_are_refused(xenv: Env, form: dict[str, Any], error: str) -> None:
    client, tokens = await xenv.full_flow()
    data: dict[str, Any] = {"audience": REPORTS, **form}
    subject = tokens["access_token"] if "subject_token" not in data else data.pop("subject_token")
    r = await exchange(xenv, client["client_id"], subject, **{k: v for k, v in data.items() if v is not None})
    assert (r.status_code, r.json()["error"]) == (400, error)


async def test_the_exchanged_token_is_refused_by_deputys_own_mcp_endpoint(xenv: Env) -> None:
    client, tokens = await xenv.full_flow()
    exchanged = (await exchange(xenv, client["client_id"], tokens["access_token"], audience=REPORTS)).json()
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}})
    async with xenv.app.router.lifespan_context(xenv.app), xenv.api() as api:  # type: ignore[attr-defined]
        refused = await api.post(
            "/mcp", content=body, headers={**MCP_HEADERS, "authorization": f"Bearer {exchanged['access_token']}"}
        )
        control = await api.post(
            "/mcp", content=body, headers={**MCP_HEADERS, "authorization": f"Bearer {tokens['access_token']}"}
        )
    assert refused.status_code == 401 and "resource_metadata=" in refused.headers["www-authenticate"]
    assert control.status_code == 200, control.text


async def test_an_exchanged_token_cannot_be_exchanged_again(xenv: Env) -> None:
    client, tokens = await xenv.full_flow()
    exchanged = (await exchange(xenv, client["client_id"], tokens["access_token"], audience=REPORTS)).json()
    r = await exchange(xenv, client["client_id"], exchanged["access_token"], audience=LEDGER)
    assert (r.status_code, r.json()["error"]) == (400, "invalid_request")  # its aud is not Deputy's resource


async def test_metadata_lists_the_grant_only_when_a_service_is_configured(xenv: Env, env: Env) -> None:
    grant = "urn:ietf:params:oauth:grant-type:token-exchange"
    async with xenv.api() as api:
        assert grant in (await api.get("/.well-known/oauth-authorization-server")).json()["grant_types_supported"]
    async with env.api() as api:
        assert grant not in (await api.get("/.well-known/oauth-authorization-server")).json()["grant_types_supported"]


async def test_without_downstream_services_every_exchange_is_invalid_target(env: Env) -> None:
    client, tokens = await env.full_flow()
    r = await exchange(env, client["client_id"], tokens["access_token"], audience=REPORTS)
    assert (r.status_code, r.json()["error"]) == (400, "invalid_target")


@pytest.mark.parametrize("db_url", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
async def test_exchange_and_revocation_on_each_database(tmp_path: Path, db_url: str) -> None:
    env = exchange_env(tmp_path, db_url)
    try:
        client, tokens = await env.full_flow()
        r = await exchange(env, client["client_id"], tokens["access_token"], audience=REPORTS)
        assert r.status_code == 200, r.text
        async with env.api() as api:
            await api.post("/revoke", data={"token": tokens["access_token"], "client_id": client["client_id"]})
        r = await exchange(env, client["client_id"], tokens["access_token"], audience=REPORTS)
        assert (r.status_code, r.json()["error"]) == (400, "invalid_request")
        assert [e["outcome"] for e in audit_events(env, "token.exchanged")] == ["ok"]
        assert [e["outcome"] for e in audit_events(env, "token.exchange_refused")] == ["refused"]
    finally:
        env.ctx.store.db.dispose()
