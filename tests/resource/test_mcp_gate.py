"""The MCP endpoint accepts only Deputy's own tokens for its own resource (invariant 5), in-process.

Each refusal sits beside the positive control (``test_valid_token_lists_and_calls_tools``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey

from deputy.oauth.tokens import mint_access_token
from support import DEPUTY, MCP_HEADERS, RESOURCE, Env, make_env

pytestmark = pytest.mark.anyio


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def rpc(
    env: Env,
    method: str,
    params: dict[str, Any] | None = None,
    *,
    token: str | None = None,
    headers: dict[str, str] | None = None,
    path: str = "/mcp",
) -> httpx.Response:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params or {}}
    h = dict(MCP_HEADERS)
    if token:
        h["authorization"] = f"Bearer {token}"
    h.update(headers or {})
    async with env.api() as api:
        return await api.post(path, content=json.dumps(body), headers=h)


def _challenge(r: httpx.Response) -> str:
    return str(r.headers["www-authenticate"])


async def test_protected_resource_metadata_is_exact(mcp_env: Env) -> None:
    async with mcp_env.api() as api:
        root = (await api.get("/.well-known/oauth-protected-resource")).json()
        inserted = (await api.get("/.well-known/oauth-protected-resource/mcp")).json()
    assert root == inserted
    assert root["resource"] == RESOURCE and root["authorization_servers"] == [DEPUTY]
    assert "offline_access" not in root["scopes_supported"] and root["bearer_methods_supported"] == ["header"]


async def test_no_token_gets_401_with_resource_metadata_and_scope(mcp_env: Env) -> None:
    r = await rpc(mcp_env, "tools/list")
    assert r.status_code == 401
    challenge = _challenge(r)
    assert challenge.startswith("Bearer ")
    assert f'resource_metadata="{DEPUTY}/.well-known/oauth-protected-resource/mcp"' in challenge
    assert 'scope="crm.read"' in challenge and "offline_access" not in challenge


async def test_valid_token_lists_and_calls_tools(mcp_env: Env) -> None:
    _, tokens = await mcp_env.full_flow(scope="crm.read crm.write")
    listed = await rpc(mcp_env, "tools/list", token=tokens["access_token"])
    assert listed.status_code == 200, listed.text
    names = {t["name"] for t in listed.json()["result"]["tools"]}
    assert {"contacts_search", "contacts_create", "deals_list", "notes_get", "deputy_whoami"} <= names
    found = await rpc(
        mcp_env, "tools/call", {"name": "contacts_search", "arguments": {"q": "a"}}, token=tokens["access_token"]
    )
    result = found.json()["result"]
    assert result["isError"] is False, result
    assert result["structuredContent"]["items"]
    assert tokens["access_token"] not in found.text and "acme_at_" not in found.text


async def test_tool_calls_see_only_the_token_users_data(mcp_env: Env) -> None:
    from support import BOB

    _, alice = await mcp_env.full_flow()
    _, bob = await mcp_env.full_flow(user=BOB)
    a = await rpc(mcp_env, "tools/call", {"name": "contacts_list", "arguments": {}}, token=alice["access_token"])
    b = await rpc(mcp_env, "tools/call", {"name": "contacts_list", "arguments": {}}, token=bob["access_token"])
    ids_a = {c["id"] for c in a.json()["result"]["structuredContent"]["items"]}
    ids_b = {c["id"] for c in b.json()["result"]["structuredContent"]["items"]}
    assert ids_a and ids_b and not ids_a & ids_b


async def test_whoami_reports_the_principal(mcp_env: Env) -> None:
    client, tokens = await mcp_env.full_flow()
    r = await rpc(mcp_env, "tools/call", {"name": "deputy_whoami", "arguments": {}}, token=tokens["access_token"])
    data = r.json()["result"]["structuredContent"]
    assert data["client_id"] == client["client_id"] and data["scopes"] == ["crm.read"]


async def test_insufficient_scope_is_403_naming_every_needed_scope(mcp_env: Env) -> None:
    _, tokens = await mcp_env.full_flow(scope="crm.read")
    r = await rpc(
        mcp_env, "tools/call", {"name": "contacts_create", "arguments": {"name": "X"}}, token=tokens["access_token"]
    )
    assert r.status_code == 403
    challenge = _challenge(r)
    assert 'error="insufficient_scope"' in challenge and 'scope="crm.read crm.write"' in challenge
    assert "resource_metadata=" in challenge


async def test_raw_upstream_token_is_refused(mcp_env: Env) -> None:
    _, tokens = await mcp_env.full_flow()
    upstream_token = _upstream_access_token(mcp_env, tokens["access_token"])
    assert upstream_token.startswith("acme_at_")
    r = await rpc(mcp_env, "tools/list", token=upstream_token)
    assert r.status_code == 401 and 'error="invalid_token"' in _challenge(r)


def _upstream_access_token(env: Env, deputy_token: str) -> str:
    """The real upstream token, as a thief who stole it from the third party would hold it."""
    from deputy.oauth.tokens import verify_access_token

    claims = verify_access_token(
        deputy_token, env.ctx.keys.verify_set, issuer=DEPUTY, audience=RESOURCE, now=env.clock.now()
    )
    with env.ctx.store.read() as tx:
        sealed = tx.vault.get(claims.subject, env.settings.upstream.name, "access_token")
    assert sealed is not None
    return env.ctx.vault.open(sealed)


def _forged(env: Env, **overrides: Any) -> str:
    key = env.ctx.keys.current_signing
    token, _ = mint_access_token(
        key,
        issuer=overrides.pop("issuer", DEPUTY),
        subject="usr_x",
        audience=overrides.pop("audience", RESOURCE),
        client_id="dcl_x",
        scopes=("crm.read",),
        grant_id="grt_x",
        now=overrides.pop("now", env.clock.now()),
        ttl=600,
    )
    return token


@pytest.mark.parametrize("case", ["audience", "issuer", "expired", "foreign-key", "typ", "garbage"])
async def test_tokens_not_issued_for_this_resource_are_refused(mcp_env: Env, case: str) -> None:
    if case == "audience":
        token = _forged(mcp_env, audience="https://other.example/mcp")
    elif case == "issuer":
        token = _forged(mcp_env, issuer="https://evil.example")
    elif case == "expired":
        token = _forged(mcp_env, now=mcp_env.clock.now() - 3600)
    elif case == "foreign-key":
        other = ECKey.generate_key("P-256", private=True)
        claims = {
            "iss": DEPUTY,
            "aud": RESOURCE,
            "sub": "u",
            "client_id": "c",
            "scope": "crm.read",
            "jti": "j",
            "gid": "g",
            "iat": mcp_env.clock.now(),
            "exp": mcp_env.clock.now() + 600,
        }
        token = jwt.encode(
            {"alg": "ES256", "typ": "at+jwt", "kid": mcp_env.ctx.keys.current_signing.kid}, claims, other
        )
    elif case == "typ":
        key = mcp_env.ctx.keys.current_signing
        claims = {
            "iss": DEPUTY,
            "aud": RESOURCE,
            "sub": "u",
            "client_id": "c",
            "scope": "crm.read",
            "jti": "j",
            "gid": "g",
            "iat": mcp_env.clock.now(),
            "exp": mcp_env.clock.now() + 600,
        }
        token = jwt.encode({"alg": "ES256", "typ": "JWT", "kid": key.kid}, claims, key.key)
    else:
        token = "not.a.token"
    r = await rpc(mcp_env, "tools/list", token=token)
    assert r.status_code == 401 and 'error="invalid_token"' in _challenge(r)


async def test_token_in_query_string_is_refused(mcp_env: Env) -> None:
    _, tokens = await mcp_env.full_flow()
    r = await rpc(mcp_env, "tools/list", path=f"/mcp?access_token={tokens['access_token']}")
    assert r.status_code == 401
    both = await rpc(
        mcp_env, "tools/list", token=tokens["access_token"], path=f"/mcp?access_token={tokens['access_token']}"
    )
    assert both.status_code == 401


async def test_foreign_origin_is_403_and_own_origin_is_fine(mcp_env: Env) -> None:
    _, tokens = await mcp_env.full_flow()
    foreign = await rpc(mcp_env, "tools/list", token=tokens["access_token"], headers={"origin": "https://evil.example"})
    own = await rpc(mcp_env, "tools/list", token=tokens["access_token"], headers={"origin": DEPUTY})
    assert foreign.status_code == 403 and own.status_code == 200


async def test_revoked_token_is_refused_within_the_poll_interval(mcp_env: Env) -> None:
    client, tokens = await mcp_env.full_flow()
    cache = mcp_env.app.state.mcp.revocations  # type: ignore[attr-defined]
    clock = FakeMonotonic()
    cache.monotonic = clock
    assert (await rpc(mcp_env, "tools/list", token=tokens["access_token"])).status_code == 200
    async with mcp_env.api() as api:
        r = await api.post("/revoke", data={"token": tokens["access_token"], "client_id": client["client_id"]})
    assert r.status_code == 200
    clock.now += cache.interval  # the bound: one interval after the revocation, every instance has polled
    refused = await rpc(mcp_env, "tools/list", token=tokens["access_token"])
    assert refused.status_code == 401 and cache.interval <= 1.0


async def test_revoking_the_refresh_token_kills_its_access_tokens_at_the_endpoint(mcp_env: Env) -> None:
    client, tokens = await mcp_env.full_flow()
    cache = mcp_env.app.state.mcp.revocations  # type: ignore[attr-defined]
    clock = FakeMonotonic()
    cache.monotonic = clock
    assert (await rpc(mcp_env, "tools/list", token=tokens["access_token"])).status_code == 200
    async with mcp_env.api() as api:
        await api.post("/revoke", data={"token": tokens["refresh_token"], "client_id": client["client_id"]})
    clock.now += cache.interval
    assert (await rpc(mcp_env, "tools/list", token=tokens["access_token"])).status_code == 401


async def test_upstream_401_means_refresh_then_retry(mcp_env: Env) -> None:
    _, tokens = await mcp_env.full_flow()
    mcp_env.acme_app.state.acme_store.expire_access_tokens()
    r = await rpc(mcp_env, "tools/call", {"name": "contacts_list", "arguments": {}}, token=tokens["access_token"])
    assert r.json()["result"]["isError"] is False


async def test_upstream_revoked_grant_tells_the_user_to_reauthorize(mcp_env: Env) -> None:
    _, tokens = await mcp_env.full_flow()
    mcp_env.acme_app.state.acme_store.revoke_user_grants("acme-u-1001")
    r = await rpc(mcp_env, "tools/call", {"name": "contacts_list", "arguments": {}}, token=tokens["access_token"])
    result = r.json()["result"]
    assert result["isError"] is True and "authorize again" in result["content"][0]["text"]
    assert "acme_" not in r.text


async def test_bad_arguments_are_a_tool_error(mcp_env: Env) -> None:
    _, tokens = await mcp_env.full_flow()
    r = await rpc(mcp_env, "tools/call", {"name": "contacts_get", "arguments": {"id": 5}}, token=tokens["access_token"])
    assert r.status_code == 200 and r.json()["result"]["isError"] is True
    unknown = await rpc(mcp_env, "tools/call", {"name": "nope", "arguments": {}}, token=tokens["access_token"])
    assert unknown.json()["result"]["isError"] is True


async def test_every_tool_call_is_audited_without_the_credential(mcp_env: Env) -> None:
    client, tokens = await mcp_env.full_flow()
    await rpc(mcp_env, "tools/call", {"name": "contacts_list", "arguments": {}}, token=tokens["access_token"])
    with mcp_env.ctx.store.read() as tx:
        events = tx.audit.events("tool.called")
    assert events and events[-1]["client_id"] == client["client_id"] and events[-1]["detail"]["tool"] == "contacts_list"
    assert "duration_ms" in events[-1]["detail"] and "acme_at_" not in repr(events)


async def test_mcp_endpoint_without_catalogue_still_serves_whoami(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    async with env.app.router.lifespan_context(env.app):  # type: ignore[attr-defined]
        _, tokens = await env.full_flow()
        r = await rpc(env, "tools/list", token=tokens["access_token"])
    assert [t["name"] for t in r.json()["result"]["tools"]] == ["deputy_whoami"]
    env.ctx.store.db.dispose()


async def test_get_stream_is_refused_with_405_after_authentication(mcp_env: Env) -> None:
    _, tokens = await mcp_env.full_flow()
    async with mcp_env.api() as api:
        anonymous = await api.get("/mcp", headers={"accept": "text/event-stream"})
        r = await api.get(
            "/mcp", headers={"accept": "text/event-stream", "authorization": f"Bearer {tokens['access_token']}"}
        )
    assert anonymous.status_code == 401
    assert r.status_code == 405 and r.headers["allow"] == "POST"
