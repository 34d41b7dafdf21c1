"""/revoke (RFC 7009): refresh tokens revoke their grant; access tokens land on the revocation list."""

from __future__ import annotations

import pytest

from deputy.oauth.tokens import verify_access_token
from support import Env

pytestmark = pytest.mark.anyio


async def _revoke(env: Env, **form: str) -> int:
    async with env.api() as api:
        r = await api.post("/revoke", data=form)
    return r.status_code


async def test_revoking_a_refresh_token_kills_the_grant(env: Env) -> None:
    client, tokens = await env.full_flow()
    assert await _revoke(env, token=tokens["refresh_token"], client_id=client["client_id"]) == 200
    r = await env.token(
        grant_type="refresh_token", refresh_token=tokens["refresh_token"], client_id=client["client_id"]
    )
    assert r.json()["error"] == "invalid_grant"
    claims = verify_access_token(
        tokens["access_token"],
        env.ctx.keys.verify_set,
        issuer=env.settings.issuer,
        audience=env.settings.resource_url,
        now=env.clock.now(),
    )
    with env.ctx.store.read() as tx:
        grant = tx.grants.load(claims.grant_id)
    assert grant is not None and grant.revoked_at is not None


async def test_revoking_an_access_token_lists_its_jti(env: Env) -> None:
    client, tokens = await env.full_flow()
    assert (
        await _revoke(env, token=tokens["access_token"], token_type_hint="access_token", client_id=client["client_id"])
        == 200
    )
    claims = verify_access_token(
        tokens["access_token"],
        env.ctx.keys.verify_set,
        issuer=env.settings.issuer,
        audience=env.settings.resource_url,
        now=env.clock.now(),
    )
    with env.ctx.store.read() as tx:
        assert tx.revocations.is_revoked(claims.jti)


async def test_another_client_cannot_revoke_my_tokens(env: Env) -> None:
    client, tokens = await env.full_flow()
    other = await env.register()
    assert await _revoke(env, token=tokens["refresh_token"], client_id=other["client_id"]) == 200
    r = await env.token(
        grant_type="refresh_token", refresh_token=tokens["refresh_token"], client_id=client["client_id"]
    )
    assert r.status_code == 200


async def test_unknown_token_is_200_and_bad_client_is_401(env: Env) -> None:
    client = await env.register()
    assert await _revoke(env, token="dpr_nonsense", client_id=client["client_id"]) == 200
    assert await _revoke(env, token="not-a-jwt", client_id=client["client_id"]) == 200
    assert await _revoke(env, token="dpr_nonsense", client_id="dcl_unknown") == 401
    assert await _revoke(env, client_id=client["client_id"]) == 400
