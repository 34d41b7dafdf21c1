"""``exchange_for_downstream``: the exchange the MCP resource server runs in-process for a verified caller."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from exchange_support import BILLING, REPORTS, audit_events, decode_with_jwks, exchange_env

from deputy.broker.downstream import exchange_for_downstream
from deputy.errors import OAuthError
from deputy.resource.verifier import Principal
from support import Env

pytestmark = pytest.mark.anyio


@pytest.fixture
def xenv(tmp_path: Path) -> Iterator[Env]:
    env = exchange_env(tmp_path)
    yield env
    env.ctx.store.db.dispose()


async def _principal(env: Env, scope: str | None = None) -> tuple[Principal, dict[str, str]]:
    client, tokens = await env.full_flow(scope=scope)
    principal = await env.app.state.mcp.verifier.verify(tokens["access_token"])  # type: ignore[attr-defined]
    assert isinstance(principal, Principal)
    return principal, {**tokens, "client_id": client["client_id"]}


async def test_a_verified_caller_gets_a_token_for_the_named_service(xenv: Env) -> None:
    principal, _ = await _principal(xenv, "crm.read crm.write")
    issued = exchange_for_downstream(xenv.ctx, principal, "reports")
    claims = (await decode_with_jwks(xenv, issued.access_token)).claims
    assert claims["aud"] == REPORTS and claims["sub"] == principal.user_id
    assert claims["client_id"] == principal.client_id and claims["act"] == {"sub": principal.client_id}
    assert claims["scope"] == "crm.read" and issued.scopes == ("crm.read",) and issued.expires_in == 60
    [event] = audit_events(xenv, "token.exchanged")
    assert event["detail"]["service"] == "reports" and event["user_id"] == principal.user_id


@pytest.mark.parametrize(
    ("service", "scope", "error"),
    [
        ("nowhere", None, "invalid_target"),
        ("reports", "crm.write", "invalid_scope"),  # beyond the reports policy
        ("ledger", "crm.read crm.write", "invalid_scope"),  # beyond the caller's token
        (BILLING, None, "unauthorized_client"),  # the billing service lists one client, not this one
    ],
)
async def test_refusals_match_the_grant_and_are_audited(xenv: Env, service: str, scope: str | None, error: str) -> None:
    principal, _ = await _principal(xenv, "crm.read")
    with pytest.raises(OAuthError) as caught:
        exchange_for_downstream(xenv.ctx, principal, service, scope)
    assert caught.value.error == error
    [event] = audit_events(xenv, "token.exchange_refused")
    assert event["detail"]["error"] == error and event["client_id"] == principal.client_id
    assert exchange_for_downstream(xenv.ctx, principal, "ledger", ["crm.read"]).scopes == ("crm.read",)


async def test_revocation_after_verification_is_seen_at_once(xenv: Env) -> None:
    principal, tokens = await _principal(xenv)
    exchange_for_downstream(xenv.ctx, principal, "reports")
    async with xenv.api() as api:
        await api.post("/revoke", data={"token": tokens["access_token"], "client_id": tokens["client_id"]})
    with pytest.raises(OAuthError) as caught:  # the resource server's cache may lag; the database does not
        exchange_for_downstream(xenv.ctx, principal, "reports")
    assert caught.value.error == "invalid_request"


async def test_an_expired_caller_cannot_exchange(xenv: Env) -> None:
    principal, _ = await _principal(xenv)
    xenv.clock.advance(principal.expires_at - xenv.clock.now())
    with pytest.raises(OAuthError) as caught:
        exchange_for_downstream(xenv.ctx, principal, "reports")
    assert caught.value.error == "invalid_request"
