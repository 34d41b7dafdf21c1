"""/token (research §4.3 items 8–10): PKCE, one-shot codes with reuse revocation, refresh rotation with family
revocation, scope narrowing, client authentication."""

from __future__ import annotations

import base64

import pytest

from support import APP_REDIRECT, RESOURCE, Env, pkce

pytestmark = pytest.mark.anyio


async def _code(env: Env, client_id: str, challenge: str) -> str:
    async with env.browser() as browser:
        trip = await env.drive(browser, env.authorize_url(client_id, challenge))
    return trip.params["code"]


async def _redeem(
    env: Env, client_id: str, code: str, verifier: str | None, **extra: str
) -> tuple[int, dict[str, str]]:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": APP_REDIRECT,
        "client_id": client_id,
        **extra,
    }
    if verifier is not None:
        form["code_verifier"] = verifier
    r = await env.token(**form)
    assert r.headers["cache-control"] == "no-store"
    return r.status_code, r.json()


@pytest.mark.parametrize("verifier", [None, "wrong-" + "a" * 50, "short"])
async def test_bad_pkce_verifier_is_refused_and_burns_the_code(env: Env, verifier: str | None) -> None:
    client = await env.register()
    good, challenge = pkce()
    code = await _code(env, client["client_id"], challenge)
    status, body = await _redeem(env, client["client_id"], code, verifier)
    assert (status, body["error"]) == (400, "invalid_grant")
    status, body = await _redeem(env, client["client_id"], code, good)
    assert (status, body["error"]) == (400, "invalid_grant")


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        ({"redirect_uri": APP_REDIRECT + "/"}, "invalid_grant"),
        ({"resource": "https://other.example/mcp"}, "invalid_grant"),
    ],
)
async def test_redirect_uri_and_resource_must_match_the_code(env: Env, extra: dict[str, str], error: str) -> None:
    client = await env.register()
    verifier, challenge = pkce()
    code = await _code(env, client["client_id"], challenge)
    status, body = await _redeem(env, client["client_id"], code, verifier, **extra)
    assert (status, body["error"]) == (400, error)


async def test_code_reuse_revokes_everything_issued_from_it(env: Env) -> None:
    client = await env.register()
    verifier, challenge = pkce()
    code = await _code(env, client["client_id"], challenge)
    status, tokens = await _redeem(env, client["client_id"], code, verifier)
    assert status == 200
    status, body = await _redeem(env, client["client_id"], code, verifier)
    assert (status, body["error"]) == (400, "invalid_grant")
    r = await env.token(
        grant_type="refresh_token", refresh_token=tokens["refresh_token"], client_id=client["client_id"]
    )
    assert (r.status_code, r.json()["error"]) == (400, "invalid_grant")
    with env.ctx.store.read() as tx:
        assert any(e["event"] == "code.reused" for e in tx.audit.events())


async def test_code_expires_after_its_lifetime(env: Env) -> None:
    client = await env.register()
    verifier, challenge = pkce()
    code = await _code(env, client["client_id"], challenge)
    env.clock.advance(env.settings.lifetimes.authorization_code)
    status, body = await _redeem(env, client["client_id"], code, verifier)
    assert (status, body["error"]) == (400, "invalid_grant")


async def test_code_of_another_client_is_refused(env: Env) -> None:
    owner, thief = await env.register(), await env.register()
    verifier, challenge = pkce()
    code = await _code(env, owner["client_id"], challenge)
    status, body = await _redeem(env, thief["client_id"], code, verifier)
    assert (status, body["error"]) == (400, "invalid_grant")


async def test_refresh_reuse_revokes_the_family(env: Env) -> None:
    client, tokens = await env.full_flow()
    cid = client["client_id"]
    first = await env.token(grant_type="refresh_token", refresh_token=tokens["refresh_token"], client_id=cid)
    assert first.status_code == 200
    replay = await env.token(grant_type="refresh_token", refresh_token=tokens["refresh_token"], client_id=cid)
    assert (replay.status_code, replay.json()["error"]) == (400, "invalid_grant")
    newest = await env.token(grant_type="refresh_token", refresh_token=first.json()["refresh_token"], client_id=cid)
    assert (newest.status_code, newest.json()["error"]) == (400, "invalid_grant")


async def test_refresh_scope_may_narrow_but_not_widen(env: Env) -> None:
    client, tokens = await env.full_flow(scope="crm.read crm.write")
    cid = client["client_id"]
    wide = await env.token(
        grant_type="refresh_token",
        refresh_token=tokens["refresh_token"],
        client_id=cid,
        scope="crm.read crm.write crm.admin",
    )
    assert (wide.status_code, wide.json()["error"]) == (400, "invalid_scope")
    narrow = await env.token(
        grant_type="refresh_token", refresh_token=tokens["refresh_token"], client_id=cid, scope="crm.read"
    )
    assert narrow.status_code == 200 and narrow.json()["scope"] == "crm.read"


async def test_refresh_token_of_another_client_is_refused(env: Env) -> None:
    _, tokens = await env.full_flow()
    other = await env.register()
    r = await env.token(grant_type="refresh_token", refresh_token=tokens["refresh_token"], client_id=other["client_id"])
    assert (r.status_code, r.json()["error"]) == (400, "invalid_grant")


async def test_refresh_token_expires(env: Env) -> None:
    client, tokens = await env.full_flow()
    env.clock.advance(env.settings.lifetimes.refresh_token + 1)
    r = await env.token(
        grant_type="refresh_token", refresh_token=tokens["refresh_token"], client_id=client["client_id"]
    )
    assert (r.status_code, r.json()["error"]) == (400, "invalid_grant")


async def _confidential(env: Env, method: str) -> dict[str, str]:
    return await env.register(token_endpoint_auth_method=method)


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
async def test_confidential_client_authentication(env: Env, method: str) -> None:
    client = await _confidential(env, method)
    assert client["client_secret"].startswith("dps_")
    with env.ctx.store.read() as tx:
        stored = tx.clients.load(client["client_id"], now=env.clock.now())
    assert stored is not None and stored.secret_hash and client["client_secret"] not in stored.secret_hash
    verifier, challenge = pkce()
    code = await _code(env, client["client_id"], challenge)
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": APP_REDIRECT, "code_verifier": verifier}
    basic = base64.b64encode(f"{client['client_id']}:{client['client_secret']}wrong".encode()).decode()
    async with env.api() as api:
        if method == "client_secret_basic":
            bad = await api.post("/token", data=form, headers={"Authorization": f"Basic {basic}"})
        else:
            bad = await api.post(
                "/token",
                data={**form, "client_id": client["client_id"], "client_secret": client["client_secret"] + "wrong"},
            )
        assert (bad.status_code, bad.json()["error"]) == (401, "invalid_client")
        public = await api.post("/token", data={**form, "client_id": client["client_id"]})
        assert (public.status_code, public.json()["error"]) == (401, "invalid_client")
        if method == "client_secret_basic":
            good_basic = base64.b64encode(f"{client['client_id']}:{client['client_secret']}".encode()).decode()
            ok = await api.post("/token", data=form, headers={"Authorization": f"Basic {good_basic}"})
        else:
            ok = await api.post(
                "/token", data={**form, "client_id": client["client_id"], "client_secret": client["client_secret"]}
            )
    assert ok.status_code == 200, ok.text


@pytest.mark.parametrize(
    ("form", "status", "error"),
    [
        ({}, 400, "invalid_request"),
        ({"client_id": "x"}, 400, "invalid_request"),
        ({"grant_type": "refresh_token", "client_id": "x", "refresh_token": "dpr_y"}, 401, "invalid_client"),
        ({"grant_type": "refresh_token", "refresh_token": "dpr_y"}, 401, "invalid_client"),
        ({"grant_type": "password", "client_id": "CID"}, 400, "unsupported_grant_type"),
        ({"grant_type": "client_credentials", "client_id": "CID"}, 400, "unsupported_grant_type"),
        ({"grant_type": "authorization_code", "client_id": "CID"}, 400, "invalid_request"),
        ({"grant_type": "refresh_token", "client_id": "CID"}, 400, "invalid_request"),
        ({"grant_type": "authorization_code", "client_id": "CID", "code": "nope"}, 400, "invalid_grant"),
        ({"client_id": "CID"}, 400, "invalid_request"),
    ],
)
async def test_malformed_token_requests(env: Env, form: dict[str, str], status: int, error: str) -> None:
    client = await env.register()
    form = {k: (client["client_id"] if v == "CID" else v) for k, v in form.items()}
    r = await env.token(**form)
    assert (r.status_code, r.json()["error"]) == (status, error)


async def test_token_endpoint_requires_form_encoding(env: Env) -> None:
    async with env.api() as api:
        r = await api.post("/token", json={"grant_type": "refresh_token"})
    assert (r.status_code, r.json()["error"]) == (400, "invalid_request")


async def test_resource_at_token_endpoint_is_checked(env: Env) -> None:
    client, tokens = await env.full_flow()
    r = await env.token(
        grant_type="refresh_token",
        refresh_token=tokens["refresh_token"],
        client_id=client["client_id"],
        resource="https://other.example/mcp",
    )
    assert (r.status_code, r.json()["error"]) == (400, "invalid_target")
    ok = await env.token(
        grant_type="refresh_token",
        refresh_token=tokens["refresh_token"],
        client_id=client["client_id"],
        resource=RESOURCE,
    )
    assert ok.status_code == 200
