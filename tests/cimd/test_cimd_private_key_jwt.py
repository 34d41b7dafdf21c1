"""private_key_jwt at /token for document clients, end to end, and the one-shot ``jti`` store on both databases.

The client's key pair is generated here; its public JWK Set is served next to its document by a real TLS server on
loopback. Each refused assertion is followed, in the same test, by a valid one that succeeds: the refusal came
from the assertion, and it did not burn the authorization code.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cimd_support import REDIRECT, DocServer, LocalCa, document
from joserfc import jwt
from joserfc.errors import SecurityWarning
from joserfc.jwk import ECKey, OctKey, OKPKey

from deputy.oauth.client_assertion import CLIENT_ASSERTION_TYPE
from deputy.storage.sql.client_assertions import SqlClientAssertions
from deputy.storage.sql.engine import Database
from support import DEPUTY, RESOURCE, Env, make_env, pkce

pytestmark = pytest.mark.anyio


@pytest.fixture
def env(tmp_path: Path, ca: LocalCa) -> Iterator[Env]:
    e = make_env(tmp_path, client_metadata={"allow_loopback_fetch": True, "ca_file": str(ca.ca_file)})
    yield e
    e.ctx.store.db.dispose()


class Client:
    """A document client that authenticates with private_key_jwt, its keys served at ``jwks_uri``."""

    def __init__(self, env: Env, docs: DocServer, key: Any | None = None, *, inline: bool = False) -> None:
        self.env, self.docs = env, docs
        self.key = key or ECKey.generate_key("P-256", auto_kid=True)
        self.client_id = docs.url("/pkjwt/client.json")
        keys = {"jwks": self.jwks()} if inline else {"jwks_uri": docs.url("/pkjwt/jwks.json")}
        docs.serve_json("/pkjwt/client.json", document(self.client_id, token_endpoint_auth_method="private_key_jwt",
                                                       **keys))  # fmt: skip
        docs.serve_json("/pkjwt/jwks.json", self.jwks())

    def jwks(self, *keys: Any) -> dict[str, Any]:
        return {"keys": [k.as_dict(private=False) for k in (keys or (self.key,))]}

    def assertion(self, *, key: Any | None = None, alg: str = "ES256", **claims: Any) -> str:
        now = self.env.clock.now()
        body = {"iss": self.client_id, "sub": self.client_id, "aud": DEPUTY, "iat": now, "exp": now + 60,
                "jti": secrets.token_urlsafe(16), **claims}  # fmt: skip
        signer = key or self.key
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SecurityWarning)
            return jwt.encode({"alg": alg, "kid": signer.kid}, body, signer, algorithms=[alg])

    async def code(self) -> tuple[str, str]:
        verifier, challenge = pkce()
        async with self.env.browser() as browser:
            trip = await self.env.drive(browser, self.env.authorize_url(self.client_id, challenge))
        return trip.params["code"], verifier

    async def redeem(self, code: str, verifier: str, assertion: str | None, **extra: str) -> Any:
        auth = {"client_assertion_type": CLIENT_ASSERTION_TYPE, "client_assertion": assertion} if assertion else {}
        return await self.env.token(grant_type="authorization_code", code=code, redirect_uri=REDIRECT,
                                    code_verifier=verifier, resource=RESOURCE, **auth, **extra)  # fmt: skip


async def test_full_flow_with_private_key_jwt(env: Env, docs: DocServer) -> None:
    client = Client(env, docs)
    code, verifier = await client.code()
    r = await client.redeem(code, verifier, client.assertion(), client_id=client.client_id)
    assert r.status_code == 200, r.text
    refresh = r.json()["refresh_token"]
    r = await env.token(grant_type="refresh_token", refresh_token=refresh,
                        client_assertion_type=CLIENT_ASSERTION_TYPE, client_assertion=client.assertion())  # fmt: skip
    assert r.status_code == 200, r.text  # client_id taken from the assertion's sub


async def test_inline_jwks_works_too(env: Env, docs: DocServer) -> None:
    client = Client(env, docs, OKPKey.generate_key("Ed25519", auto_kid=True), inline=True)
    code, verifier = await client.code()
    assert (await client.redeem(code, verifier, client.assertion(alg="EdDSA"))).status_code == 200
    assert docs.paths_seen().count("/pkjwt/jwks.json") == 0


def _unsigned(client: Client) -> str:
    claims = {"iss": client.client_id, "sub": client.client_id, "aud": DEPUTY, "jti": "n"}
    claims["exp"] = client.env.clock.now() + 60

    def b64(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{b64({'alg': 'none'})}.{b64(claims)}."


BAD: dict[str, Callable[[Client], str]] = {
    "aud is the token endpoint": lambda c: c.assertion(aud=DEPUTY + "/token"),
    "aud list with another party": lambda c: c.assertion(aud=[DEPUTY, "https://other.example"]),
    "expired": lambda c: c.assertion(exp=c.env.clock.now() - 1),
    "exp too far ahead": lambda c: c.assertion(exp=c.env.clock.now() + 3600),
    "signed by another key": lambda c: c.assertion(key=ECKey.generate_key("P-256", auto_kid=True)),
    "alg none": lambda c: _unsigned(c),
    "alg HS256": lambda c: c.assertion(key=OctKey.generate_key(256, auto_kid=True), alg="HS256"),
    "another client's sub": lambda c: c.assertion(sub="https://localhost/other.json"),
    "no jti": lambda c: c.assertion(jti=None),
}


@pytest.mark.parametrize("case", list(BAD))
async def test_bad_assertions_are_refused(env: Env, docs: DocServer, case: str) -> None:
    client = Client(env, docs)
    code, verifier = await client.code()
    r = await client.redeem(code, verifier, BAD[case](client), client_id=client.client_id)
    assert r.status_code == 401 and r.json()["error"] == "invalid_client", r.text
    assert "access_token" not in r.text
    r = await client.redeem(code, verifier, client.assertion(), client_id=client.client_id)
    assert r.status_code == 200, r.text  # positive control: the same code, a good assertion


async def test_a_replayed_assertion_is_refused(env: Env, docs: DocServer) -> None:
    client = Client(env, docs)
    code, verifier = await client.code()
    assertion = client.assertion()
    r = await client.redeem(code, verifier, assertion)
    assert r.status_code == 200, r.text
    refresh = r.json()["refresh_token"]
    replay = {"client_assertion_type": CLIENT_ASSERTION_TYPE, "client_assertion": assertion}
    r = await env.token(grant_type="refresh_token", refresh_token=refresh, **replay)
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    r = await env.token(grant_type="refresh_token", refresh_token=refresh,
                        client_assertion_type=CLIENT_ASSERTION_TYPE, client_assertion=client.assertion())  # fmt: skip
    assert r.status_code == 200, r.text


async def test_a_private_key_jwt_client_must_authenticate(env: Env, docs: DocServer) -> None:
    client = Client(env, docs)
    code, verifier = await client.code()
    r = await client.redeem(code, verifier, None, client_id=client.client_id)  # as if it were public
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    r = await client.redeem(code, verifier, client.assertion(), client_secret="guess")
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"  # two methods at once
    r = await client.redeem(code, verifier, None, client_assertion_type="urn:other", client_assertion="x")
    assert r.status_code == 401


async def test_a_public_document_client_cannot_switch_to_an_assertion(env: Env, docs: DocServer) -> None:
    client = Client(env, docs)
    public_id = docs.url("/public.json")
    docs.serve_json("/public.json", document(public_id, jwks={"keys": [client.key.as_dict(private=False)]}))
    verifier, challenge = pkce()
    async with env.browser() as browser:
        trip = await env.drive(browser, env.authorize_url(public_id, challenge))
    forged = client.assertion(iss=public_id, sub=public_id)
    r = await client.redeem(trip.params["code"], verifier, forged, client_id=public_id)
    assert r.status_code == 401


async def test_rotated_keys_are_fetched_again(env: Env, docs: DocServer) -> None:
    client = Client(env, docs)
    code, verifier = await client.code()
    assert (await client.redeem(code, verifier, client.assertion())).status_code == 200
    new_key = ECKey.generate_key("P-256", auto_kid=True)
    docs.serve_json("/pkjwt/jwks.json", client.jwks(new_key))
    code, verifier = await client.code()
    assert (await client.redeem(code, verifier, client.assertion(key=new_key))).status_code == 200
    assert docs.paths_seen().count("/pkjwt/jwks.json") == 2


async def test_a_jwks_uri_on_a_private_address_is_refused(env: Env, docs: DocServer) -> None:
    client = Client(env, docs)
    doc = document(client.client_id, token_endpoint_auth_method="private_key_jwt", jwks_uri="https://10.0.0.1/jwks")
    docs.serve_json("/pkjwt/client.json", doc)
    code, verifier = await client.code()
    r = await client.redeem(code, verifier, client.assertion())
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"


def test_each_assertion_is_saved_once(db_url: str) -> None:
    db = Database(db_url)
    db.migrate()  # the table comes from migration 0004
    try:
        with db.write() as conn:
            assert SqlClientAssertions(conn).save_once("h1", expires_at=200, now=100)
        with db.write() as conn:
            assert not SqlClientAssertions(conn).save_once("h1", expires_at=200, now=150)
        with db.write() as conn:  # once expired, the record is gone (the assertion is refused on its exp anyway)
            assert SqlClientAssertions(conn).save_once("h1", expires_at=400, now=200)
        results: list[bool] = []

        def use() -> None:
            with db.write() as conn:
                results.append(SqlClientAssertions(conn).save_once("h2", expires_at=500, now=300))

        threads = [threading.Thread(target=use) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(results) == [False] * 7 + [True]
    finally:
        db.dispose()
