"""/register (RFC 7591) under Deputy's policy: refusals are RFC 7591 errors and write nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp.shared.auth import OAuthClientInformationFull

from support import Env, make_env

pytestmark = pytest.mark.anyio


def _client_count(env: Env) -> int:
    with env.ctx.store.read() as tx:
        return len(tx.clients.list_all())


async def test_registration_response_is_usable_by_the_mcp_sdk(env: Env) -> None:
    body = await env.register(["http://127.0.0.1:33418/callback"])
    info = OAuthClientInformationFull.model_validate(body)
    assert info.client_id and info.client_id.startswith("dcl_")
    assert "client_secret" not in body
    assert info.token_endpoint_auth_method == "none"


@pytest.mark.parametrize(
    "uris",
    [
        ["javascript:alert(1)"],
        ["data:text/html,hi"],
        ["http://example.com/cb"],
        ["https://example.com/cb#frag"],
        ["https://user:pw@example.com/cb"],
        ["com.example.app:/cb"],
        [],
        "https://example.com/cb",
    ],
)
async def test_dangerous_redirect_uris_are_refused(env: Env, uris: object) -> None:
    before = _client_count(env)
    async with env.api() as api:
        r = await api.post("/register", json={"client_name": "x", "redirect_uris": uris})
    assert (r.status_code, r.json()["error"]) == (400, "invalid_redirect_uri")
    assert r.headers["cache-control"] == "no-store"
    assert _client_count(env) == before


@pytest.mark.parametrize(
    "body",
    [
        {"redirect_uris": ["https://a.example/cb"], "client_name": "n" * 500},
        {"redirect_uris": ["https://a.example/cb"], "grant_types": ["password"]},
        {"redirect_uris": ["https://a.example/cb"], "response_types": ["token"]},
        {"redirect_uris": ["https://a.example/cb"], "token_endpoint_auth_method": "private_key_jwt"},
        {"redirect_uris": ["https://a.example/cb"], "client_secret": "chosen-by-client"},
        [1, 2, 3],
        "string",
    ],
)
async def test_bad_metadata_is_refused(env: Env, body: object) -> None:
    before = _client_count(env)
    async with env.api() as api:
        r = await api.post("/register", json=body)
    assert (r.status_code, r.json()["error"]) == (400, "invalid_client_metadata")
    assert _client_count(env) == before


async def test_non_json_and_oversized_bodies_are_refused(env: Env) -> None:
    async with env.api() as api:
        text = await api.post("/register", content=b"{", headers={"content-type": "application/json"})
        form = await api.post("/register", data={"redirect_uris": "https://a.example/cb"})
        big = await api.post("/register", json={"redirect_uris": ["https://a.example/cb"], "x": "y" * 40_000})
        huge = await api.post(
            "/register", content=b"{" + b" " * 200_000 + b"}", headers={"content-type": "application/json"}
        )
    assert (text.status_code, text.json()["error"]) == (400, "invalid_client_metadata")
    assert (form.status_code, form.json()["error"]) == (400, "invalid_client_metadata")
    assert (big.status_code, big.json()["error"]) == (400, "invalid_client_metadata")
    assert huge.status_code == 413


async def test_registrations_are_rate_limited_per_address(tmp_path: Path) -> None:
    env = make_env(tmp_path, registration={"rate_limit_per_hour": 3})
    for _ in range(3):
        await env.register()
    async with env.api() as api:
        r = await api.post("/register", json={"client_name": "x", "redirect_uris": ["https://a.example/cb"]})
    assert r.status_code == 429 and r.json()["error"] == "slow_down" and int(r.headers["retry-after"]) > 0
    env.client_ip = "198.51.100.99"  # another address is not affected
    await env.register()
    env.clock.advance(3601)
    env.client_ip = "198.51.100.7"
    await env.register()
    env.ctx.store.db.dispose()


async def test_unused_registrations_expire(env: Env) -> None:
    client = await env.register()
    env.clock.advance(env.settings.lifetimes.unused_registration + 1)
    async with env.browser() as browser:
        r = await browser.get(f"/authorize?response_type=code&client_id={client['client_id']}")
    assert r.status_code == 400 and "location" not in r.headers


async def test_registration_can_be_switched_off(tmp_path: Path) -> None:
    env = make_env(tmp_path, registration={"enabled": False})
    async with env.api() as api:
        r = await api.post("/register", json={"client_name": "x", "redirect_uris": ["https://a.example/cb"]})
        meta = (await api.get("/.well-known/oauth-authorization-server")).json()
    assert r.status_code == 400 and "registration_endpoint" not in meta
    env.ctx.store.db.dispose()


async def test_forwarded_for_is_honoured_only_from_trusted_proxies(tmp_path: Path) -> None:
    env = make_env(tmp_path, registration={"rate_limit_per_hour": 1}, server={"trusted_proxies": ["198.51.100.0/24"]})
    body = {"client_name": "x", "redirect_uris": ["https://a.example/cb"]}
    async with env.api() as api:
        first = await api.post("/register", json=body, headers={"x-forwarded-for": "203.0.113.1"})
        other = await api.post("/register", json=body, headers={"x-forwarded-for": "203.0.113.2"})
        again = await api.post("/register", json=body, headers={"x-forwarded-for": "203.0.113.1"})
    assert (first.status_code, other.status_code, again.status_code) == (201, 201, 429)
    env.ctx.store.db.dispose()
    untrusted = make_env(tmp_path / "u", registration={"rate_limit_per_hour": 1})
    async with untrusted.api() as api:
        first = await api.post("/register", json=body, headers={"x-forwarded-for": "203.0.113.1"})
        spoofed = await api.post("/register", json=body, headers={"x-forwarded-for": "203.0.113.2"})
    assert (first.status_code, spoofed.status_code) == (201, 429)
    untrusted.ctx.store.db.dispose()
