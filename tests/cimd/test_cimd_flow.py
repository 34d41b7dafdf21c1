"""Document clients through Deputy itself: consent, tokens, local errors, caching and the operator's lists.

Deputy runs in-process; the documents come from a real TLS server on 127.0.0.1, which Deputy may reach only
because each test turns ``allow_loopback_fetch`` on (and trusts the test CA).
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cimd_support import REDIRECT, DocServer, LocalCa, Route, document
from sqlalchemy import select

from deputy.oauth.tokens import verify_access_token
from deputy.storage.sql.schema import audit_events
from support import ATTACKER_REDIRECT, DEPUTY, RESOURCE, Env, make_env, pkce

pytestmark = pytest.mark.anyio

PRIVATE_JWK = {"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA", "d": "AAAA"}


def cimd_env(tmp_path: Path, ca: LocalCa, **client_metadata: Any) -> Env:
    options = {"allow_loopback_fetch": True, "ca_file": str(ca.ca_file), **client_metadata}
    return make_env(tmp_path, client_metadata=options)


@pytest.fixture
def env(tmp_path: Path, ca: LocalCa) -> Iterator[Env]:
    e = cimd_env(tmp_path, ca)
    yield e
    e.ctx.store.db.dispose()


def publish(docs: DocServer, path: str = "/client.json", **extra: Any) -> str:
    client_id = docs.url(path)
    cache_control = extra.pop("cache_control", None)
    docs.serve_json(path, document(client_id, **extra), cache_control=cache_control)
    return client_id


async def open_authorize(env: Env, client_id: str, **extra: str) -> Any:
    _, challenge = pkce()
    async with env.browser() as browser:
        return await browser.get(env.authorize_url(client_id, challenge, **extra))


def assert_local_error(r: Any) -> None:
    """Deputy's own error page: never a redirect, since the redirect URI could not be validated."""
    assert r.status_code in (400, 403, 503) and "location" not in r.headers
    assert 'id="error-title"' in r.text and 'name="flow_id"' not in r.text


def audited(env: Env, event: str) -> list[Any]:
    with env.ctx.store.read() as tx:
        return list(tx.conn.execute(select(audit_events).where(audit_events.c.event == event)))


async def test_full_flow_with_a_public_document_client(env: Env, docs: DocServer) -> None:
    client_id = publish(docs)
    verifier, challenge = pkce()
    async with env.browser() as browser:
        trip = await env.drive(browser, env.authorize_url(client_id, challenge, state="st"))
    assert trip.kinds()[0] == "deputy-consent"
    assert trip.landed is not None and trip.landed.startswith(REDIRECT + "?")
    assert trip.params["state"] == "st" and trip.params["iss"] == DEPUTY
    r = await env.token(grant_type="authorization_code", code=trip.params["code"], redirect_uri=REDIRECT,
                        client_id=client_id, code_verifier=verifier, resource=RESOURCE)  # fmt: skip
    assert r.status_code == 200, r.text
    tokens = r.json()
    claims = verify_access_token(
        tokens["access_token"], env.ctx.keys.verify_set, issuer=DEPUTY, audience=RESOURCE, now=env.clock.now()
    )
    assert claims.client_id == client_id
    r = await env.token(grant_type="refresh_token", refresh_token=tokens["refresh_token"], client_id=client_id)
    assert r.status_code == 200, r.text
    assert docs.paths_seen() == ["/client.json"]  # fetched once, then served from the cache
    with env.ctx.store.read() as tx:
        assert tx.clients.load(client_id, now=env.clock.now()) is None  # nothing registered
    assert [row.client_id for row in audited(env, "client.document_loaded")] == [client_id]


async def test_consent_page_shows_the_verified_domain_and_a_self_asserted_name(env: Env, docs: DocServer) -> None:
    client_id = publish(docs, client_name="Totally Official App")
    r = await open_authorize(env, client_id)
    assert r.status_code == 200
    page = html.unescape(r.text)
    assert 'id="verified-host">localhost<' in page
    assert f'id="document-url">{client_id}<' in page
    assert 'id="name-self-asserted"' in page and "Totally Official App" in page
    assert 'id="redirect-host">app.example<' in page  # the receiving host, as for any client
    assert 'id="unverified-warning"' not in page


async def test_consent_page_shows_the_redirect_port(env: Env, docs: DocServer) -> None:
    client_id = publish(docs, redirect_uris=["http://127.0.0.1:8765/callback"])
    r = await open_authorize(env, client_id, redirect_uri="http://127.0.0.1:8765/callback")
    assert 'id="redirect-host">127.0.0.1:8765<' in r.text
    assert 'id="loopback-warning"' in r.text


async def test_a_redirect_uri_not_in_the_document_is_refused_locally(env: Env, docs: DocServer) -> None:
    client_id = publish(docs)
    r = await open_authorize(env, client_id, redirect_uri=ATTACKER_REDIRECT)
    assert_local_error(r)
    assert "not registered for this application" in r.text


@pytest.mark.parametrize(
    "route",
    [
        Route(b'{"error":"gone"}', status=404),
        Route(b"<html>hi</html>", headers={"Content-Type": "text/html"}),
        Route(b"{not json", headers={"Content-Type": "application/json"}),
        Route(b"", status=302, headers={"Location": "https://10.0.0.1/client.json"}),
    ],
)
async def test_an_unusable_document_is_a_local_error_at_authorize_and_invalid_client_at_token(
    env: Env, docs: DocServer, route: Route
) -> None:
    docs.routes["/client.json"] = route
    client_id = docs.url("/client.json")
    assert_local_error(await open_authorize(env, client_id))
    r = await env.token(grant_type="authorization_code", code="dpc_whatever", client_id=client_id,
                        code_verifier="v" * 43, redirect_uri=REDIRECT)  # fmt: skip
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    assert r.headers["cache-control"] == "no-store"
    assert audited(env, "client.document_refused")


@pytest.mark.parametrize(
    "change",
    [
        {"client_id": "https://attacker.example/client.json"},
        {"client_secret": "embedded-secret"},
        {"token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [PRIVATE_JWK]}},
        {"token_endpoint_auth_method": "client_secret_basic"},
        {"redirect_uris": ["javascript:alert(1)"]},
    ],
)
async def test_invalid_documents_are_refused(env: Env, docs: DocServer, change: dict[str, Any]) -> None:
    client_id = docs.url("/client.json")
    docs.serve_json("/client.json", {**document(client_id), **change})
    assert_local_error(await open_authorize(env, client_id))


@pytest.mark.parametrize(
    "client_id",
    [
        "https://localhost/",
        "https://localhost/client.json?x=1",
        "https://localhost/a/../client.json",
        "https://0x7f.0.0.1/client.json",
        "https://10.0.0.1/client.json",
        "https://169.254.169.254/latest/meta-data",
    ],
)
async def test_unusable_client_id_urls_are_refused_without_a_fetch(env: Env, docs: DocServer, client_id: str) -> None:
    assert_local_error(await open_authorize(env, client_id))
    assert docs.seen == []


async def test_errors_are_not_cached(env: Env, docs: DocServer) -> None:
    client_id = docs.url("/client.json")
    docs.routes["/client.json"] = Route(b'{"error":"oops"}', status=500)
    assert_local_error(await open_authorize(env, client_id))
    docs.serve_json("/client.json", {**document(client_id), "client_secret": "x"})
    assert_local_error(await open_authorize(env, client_id))  # an invalid document is not cached either
    publish(docs)
    r = await open_authorize(env, client_id)
    assert r.status_code == 200 and 'name="flow_id"' in r.text
    assert docs.paths_seen() == ["/client.json"] * 3


async def test_max_age_is_honoured(env: Env, docs: DocServer) -> None:
    client_id = publish(docs, cache_control="max-age=60")
    assert (await open_authorize(env, client_id)).status_code == 200
    env.clock.advance(59)
    assert (await open_authorize(env, client_id)).status_code == 200
    assert len(docs.seen) == 1
    env.clock.advance(2)
    assert (await open_authorize(env, client_id)).status_code == 200
    assert len(docs.seen) == 2


async def test_max_age_is_capped(tmp_path: Path, ca: LocalCa, docs: DocServer) -> None:
    env = cimd_env(tmp_path, ca, max_cache_seconds=100)
    client_id = publish(docs, cache_control="max-age=31536000")
    assert (await open_authorize(env, client_id)).status_code == 200
    env.clock.advance(99)
    assert (await open_authorize(env, client_id)).status_code == 200
    assert len(docs.seen) == 1
    env.clock.advance(2)
    assert (await open_authorize(env, client_id)).status_code == 200
    assert len(docs.seen) == 2
    env.ctx.store.db.dispose()


async def test_no_store_is_fetched_every_time(env: Env, docs: DocServer) -> None:
    client_id = publish(docs, cache_control="no-store")
    for _ in range(2):
        assert (await open_authorize(env, client_id)).status_code == 200
    assert len(docs.seen) == 2


@pytest.mark.parametrize(
    ("lists", "allowed"),
    [
        ({"deny_domains": ["localhost"]}, False),
        ({"allow_domains": ["example.com"]}, False),
        ({"allow_domains": ["localhost"]}, True),
        ({"deny_domains": ["host"]}, True),  # "host" is not a label of "localhost"
    ],
)
async def test_domain_lists(tmp_path: Path, ca: LocalCa, docs: DocServer, lists: dict[str, Any], allowed: bool) -> None:
    env = cimd_env(tmp_path, ca, **lists)
    r = await open_authorize(env, publish(docs))
    if allowed:
        assert r.status_code == 200 and 'name="flow_id"' in r.text
    else:
        assert_local_error(r)
        assert docs.seen == []
    env.ctx.store.db.dispose()


async def test_loopback_fetching_is_off_by_default(tmp_path: Path, ca: LocalCa, docs: DocServer) -> None:
    env = make_env(tmp_path, client_metadata={"ca_file": str(ca.ca_file)})
    assert_local_error(await open_authorize(env, publish(docs)))
    assert docs.seen == []
    env.ctx.store.db.dispose()


async def test_metadata_advertises_documents_and_private_key_jwt(env: Env) -> None:
    async with env.api() as api:
        meta = (await api.get("/.well-known/oauth-authorization-server")).json()
    assert meta["client_id_metadata_document_supported"] is True
    assert "private_key_jwt" in meta["token_endpoint_auth_methods_supported"]
    assert set(meta["token_endpoint_auth_signing_alg_values_supported"]) == {"ES256", "RS256", "PS256", "EdDSA"}


async def test_disabled_documents_are_neither_advertised_nor_fetched(
    tmp_path: Path, ca: LocalCa, docs: DocServer
) -> None:
    env = cimd_env(tmp_path, ca, enabled=False)
    async with env.api() as api:
        meta = (await api.get("/.well-known/oauth-authorization-server")).json()
    assert "client_id_metadata_document_supported" not in meta
    assert "private_key_jwt" not in meta["token_endpoint_auth_methods_supported"]
    assert_local_error(await open_authorize(env, publish(docs)))
    assert docs.seen == []
    env.ctx.store.db.dispose()


async def test_document_clients_are_outside_registration(tmp_path: Path, ca: LocalCa, docs: DocServer) -> None:
    """Registration cannot claim a document URL, and its rate limit does not apply to document clients."""
    env = make_env(tmp_path, registration={"rate_limit_per_hour": 1},
                   client_metadata={"allow_loopback_fetch": True, "ca_file": str(ca.ca_file)})  # fmt: skip
    client_id = publish(docs)
    registered = await env.register(client_id=client_id)
    assert registered["client_id"] != client_id  # Deputy mints registration ids itself
    async with env.api() as api:
        assert (await api.post("/register", json={"redirect_uris": [REDIRECT]})).status_code == 429
    r = await open_authorize(env, client_id)
    assert r.status_code == 200 and 'name="flow_id"' in r.text
    env.ctx.store.db.dispose()
