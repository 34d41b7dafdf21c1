"""examples/downstream_service.py: a service verifying exchanged tokens against Deputy's /jwks.

The first test runs the whole documented set-up on loopback: ``deputy demo``'s wiring (configured through
``DEPUTY_DOWNSTREAM``, as docs/token-exchange.md shows), a real OAuth flow, a real exchange over HTTP, and the
example service under uvicorn. The others drive the example's verifier against a key server whose keys the test
controls, for key rotation and the claim checks.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from exchange_support import load_example, unverified_claims
from joserfc import jwt
from joserfc.jwk import ECKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from deputy.broker.exchange import ACCESS_TOKEN_TYPE, GRANT_TYPE
from headless import obtain_tokens
from live import LiveServers, bind_loopback, start_demo

pytestmark = pytest.mark.anyio

example = load_example()


async def _exchange(deputy_url: str, client_id: str, subject: str, audience: str) -> str:
    form = {
        "grant_type": GRANT_TYPE,
        "client_id": client_id,
        "subject_token": subject,
        "subject_token_type": ACCESS_TOKEN_TYPE,
        "audience": audience,
    }
    async with httpx.AsyncClient(timeout=30) as http:
        r = await http.post(deputy_url + "/token", data=form)
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


async def _whoami(url: str, token: str | None) -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.get(url + "/whoami", headers=headers)


async def test_example_service_accepts_only_tokens_exchanged_for_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sock = bind_loopback()
    audience = f"http://127.0.0.1:{sock.getsockname()[1]}"
    services = {
        "example": {"audience": audience, "scopes": ["crm.read"]},
        "other": {"audience": "https://other.example", "scopes": ["crm.read"]},
    }
    monkeypatch.setenv("DEPUTY_DOWNSTREAM", json.dumps(services))
    try:
        demo_cm = start_demo(tmp_path / "demo")
        demo = demo_cm.__enter__()
    except BaseException:
        sock.close()
        raise
    try:
        config = example.ServiceConfig(issuer=demo.deputy_url, audience=audience, required_scope="crm.read")
        app = example.create_app(config)
        with LiveServers([(app, sock)]) as svc:
            url = svc.urls[0]
            tokens = await obtain_tokens(demo.deputy_url)
            subject, client_id = tokens["access_token"], tokens["client_id"]
            mine = await _exchange(demo.deputy_url, client_id, subject, audience)
            other = await _exchange(demo.deputy_url, client_id, subject, "https://other.example")

            ok = await _whoami(url, mine)
            assert ok.status_code == 200, ok.text
            user = unverified_claims(subject)["sub"]
            assert ok.json() == {
                "sub": user,
                "client_id": client_id,
                "actor": client_id,
                "scope": "crm.read",
                "expires_at": unverified_claims(mine)["exp"],
            }

            for token in (other, subject, None):  # another service's token, Deputy's MCP token, no token
                refused = await _whoami(url, token)
                assert refused.status_code == 401 and refused.json()["error"] == "invalid_token"
                assert refused.headers["www-authenticate"].startswith("Bearer ")
            assert app.state.verifier.jwks.fetches == 1  # cached after the first token
    finally:
        demo_cm.__exit__(None, None, None)


# -- the verifier against a key server the test controls -----------------------------------------------------------

ISSUER = "https://deputy.example"
AUDIENCE = "https://svc.example"
NOW = 1_800_000_000


@dataclass
class KeyServer:
    keys: dict[str, ECKey] = field(default_factory=dict)
    hits: int = 0

    def add(self, kid: str) -> ECKey:
        self.keys[kid] = ECKey.generate_key("P-256", private=True)
        return self.keys[kid]

    async def jwks(self, request: Request) -> JSONResponse:
        self.hits += 1
        keys = [{**k.as_dict(private=False), "kid": kid, "use": "sig", "alg": "ES256"} for kid, k in self.keys.items()]
        return JSONResponse({"keys": keys})


class Monotonic:
    def __init__(self) -> None:
        self.value = 0.0

    def __call__(self) -> float:
        return self.value


@dataclass
class Rig:
    server: KeyServer
    clock: Monotonic
    app: Starlette

    async def call(self, token: str) -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://svc") as c:
            return await c.get("/whoami", headers={"authorization": f"Bearer {token}"})


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    server, clock = KeyServer(), Monotonic()
    with LiveServers([(Starlette(routes=[Route("/jwks", server.jwks)]), 0)]) as live:
        config = example.ServiceConfig(ISSUER, AUDIENCE, jwks_url=live.urls[0] + "/jwks", required_scope="crm.read")
        async with httpx.AsyncClient(timeout=30) as http:
            yield Rig(server, clock, example.create_app(config, http=http, monotonic=clock, now=lambda: NOW))


DROP = object()  # a claim value meaning "leave this claim out"


def _token(key: ECKey, kid: str, header: dict[str, Any] | None = None, **claims: Any) -> str:
    payload = {
        "iss": ISSUER,
        "sub": "user-1",
        "aud": AUDIENCE,
        "client_id": "client-1",
        "scope": "crm.read",
        "act": {"sub": "client-1"},
        "jti": "j1",
        "iat": NOW,
        "exp": NOW + 60,
        **claims,
    }
    payload = {k: v for k, v in payload.items() if v is not DROP}
    return jwt.encode({"alg": "ES256", "typ": "at+jwt", "kid": kid, **(header or {})}, payload, key)


async def test_keys_are_cached_and_refetched_for_a_new_kid_at_a_bounded_rate(rig: Rig) -> None:
    k1 = rig.server.add("k1")
    assert (await rig.call(_token(k1, "k1"))).status_code == 200
    assert (await rig.call(_token(k1, "k1"))).status_code == 200
    assert rig.server.hits == 1

    k2 = rig.server.add("k2")  # a rotation: the new key is published, then used
    assert (await rig.call(_token(k2, "k2"))).status_code == 401  # too soon after the last fetch
    assert rig.server.hits == 1
    rig.clock.value += 30
    assert (await rig.call(_token(k2, "k2"))).status_code == 200
    assert rig.server.hits == 2

    stray = ECKey.generate_key("P-256", private=True)  # a kid Deputy never published
    for _ in range(5):
        assert (await rig.call(_token(stray, "k-unknown"))).status_code == 401
    assert rig.server.hits == 2  # forged kids do not turn into fetches


@pytest.mark.parametrize(
    ("header", "claims"),
    [
        ({}, {"aud": "https://deputy.example/mcp"}),  # Deputy's own resource
        ({}, {"aud": "https://another.example"}),
        ({}, {"iss": "https://evil.example"}),
        ({}, {"exp": NOW - 31}),  # expired beyond the leeway
        ({}, {"iat": NOW + 31}),
        ({}, {"act": DROP}),  # not obtained by token exchange
        ({}, {"sub": DROP}),
        ({}, {"client_id": DROP}),
        ({}, {"act": {"no": "sub"}}),
        ({"typ": "JWT"}, {}),
    ],
)
async def test_tokens_failing_any_check_are_refused(rig: Rig, header: dict[str, Any], claims: dict[str, Any]) -> None:
    key = rig.server.add("k1")
    assert (await rig.call(_token(key, "k1"))).status_code == 200  # positive control
    r = await rig.call(_token(key, "k1", header, **claims))
    assert r.status_code == 401 and r.json()["error"] == "invalid_token"


async def test_a_token_signed_by_a_foreign_key_under_a_known_kid_is_refused(rig: Rig) -> None:
    rig.server.add("k1")
    r = await rig.call(_token(ECKey.generate_key("P-256", private=True), "k1"))
    assert r.status_code == 401


async def test_the_required_scope_is_enforced(rig: Rig) -> None:
    key = rig.server.add("k1")
    r = await rig.call(_token(key, "k1", scope="crm.write"))
    assert r.status_code == 403 and r.json()["error"] == "insufficient_scope"
    assert 'error="insufficient_scope"' in r.headers["www-authenticate"]
