"""Authorization server metadata (RFC 8414) and the userinfo endpoint."""

from __future__ import annotations

import httpx
import pytest
from acme_flow import ALICE_ID, BOB, BOB_ID, ISSUER, obtain_tokens
from starlette.applications import Starlette

from deputy.clock import FrozenClock
from deputy.demo.acme import AcmeStore

pytestmark = pytest.mark.anyio


async def test_metadata_describes_the_endpoints(client: httpx.AsyncClient) -> None:
    response = await client.get("/.well-known/oauth-authorization-server")
    assert response.status_code == 200
    meta = response.json()
    assert meta["issuer"] == ISSUER
    assert meta["authorization_endpoint"] == f"{ISSUER}/authorize"
    assert meta["token_endpoint"] == f"{ISSUER}/token"
    assert meta["userinfo_endpoint"] == f"{ISSUER}/userinfo"
    assert meta["revocation_endpoint"] == f"{ISSUER}/revoke"
    assert meta["response_types_supported"] == ["code"]
    assert meta["grant_types_supported"] == ["authorization_code", "refresh_token"]
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["token_endpoint_auth_methods_supported"] == ["client_secret_basic", "client_secret_post"]
    assert meta["authorization_response_iss_parameter_supported"] is True
    assert set(meta["scopes_supported"]) == {
        "profile",
        "contacts:read",
        "contacts:write",
        "deals:read",
        "deals:write",
        "notes:read",
        "notes:write",
    }


async def test_userinfo_identifies_the_user(app: Starlette, client: httpx.AsyncClient) -> None:
    alice = await obtain_tokens(app, scope="profile")
    bob = await obtain_tokens(app, BOB, scope="contacts:read")
    alice_info = (await client.get("/userinfo", headers=alice.headers)).json()
    assert alice_info == {
        "sub": ALICE_ID,
        "name": "Alice Example",
        "email": "alice@acme.example",
        "preferred_username": "alice",
    }
    response = await client.get("/userinfo", headers=bob.headers)
    assert response.json()["sub"] == BOB_ID
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer acme_at_forged"},
        {"Authorization": "Bearer "},
        {"Authorization": "Basic ZGVwdXR5OnNlY3JldA=="},
        {"Authorization": "acme_at_no_scheme"},
    ],
)
async def test_userinfo_refuses_without_a_valid_token(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    response = await client.get("/userinfo", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer ") and 'error="invalid_token"' in challenge


async def test_userinfo_refuses_an_expired_token(app: Starlette, client: httpx.AsyncClient, clock: FrozenClock) -> None:
    tokens = await obtain_tokens(app)
    clock.advance(3599)
    assert (await client.get("/userinfo", headers=tokens.headers)).status_code == 200
    clock.advance(1)
    assert (await client.get("/userinfo", headers=tokens.headers)).status_code == 401


async def test_bearer_scheme_is_case_insensitive(app: Starlette, client: httpx.AsyncClient) -> None:
    tokens = await obtain_tokens(app)
    response = await client.get("/userinfo", headers={"Authorization": f"bearer {tokens.access}"})
    assert response.status_code == 200


async def test_refresh_token_is_not_an_access_token(app: Starlette, client: httpx.AsyncClient) -> None:
    tokens = await obtain_tokens(app)
    response = await client.get("/userinfo", headers={"Authorization": f"Bearer {tokens.refresh}"})
    assert response.status_code == 401


async def test_expire_access_tokens_control(app: Starlette, client: httpx.AsyncClient, store: AcmeStore) -> None:
    alice = await obtain_tokens(app)
    bob = await obtain_tokens(app, BOB)
    assert store.expire_access_tokens(ALICE_ID) == 1
    assert (await client.get("/userinfo", headers=alice.headers)).status_code == 401
    assert (await client.get("/userinfo", headers=bob.headers)).status_code == 200
    assert store.expire_access_tokens() == 2
    assert (await client.get("/userinfo", headers=bob.headers)).status_code == 401
