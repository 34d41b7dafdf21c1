"""The brokered API client against the real Acme CRM app (in-process) and small stub upstreams.

Tokens are real Acme tokens issued through ``app.state.acme_store``; the fake credential source plays the broker.
Every error and result is checked for the bearer token at the end of each test that could leak it.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from deputy.clock import FrozenClock
from deputy.demo.acme import AcmeStore, create_acme_app, default_settings
from deputy.errors import ConfigError
from deputy.resource.catalogue import load_catalogue
from deputy.resource.requests import UpstreamRequest, build_request
from deputy.resource.upstream_api import (
    BrokeredApiClient,
    CallGrant,
    ToolCallError,
    UpstreamResult,
    map_status,
    parse_retry_after,
    sanitize,
)

ISSUER = "https://acme.example"
API = ISSUER + "/api/v1"
ALICE = "acme-u-1001"


def _grant(user_id: str, *scopes: str) -> CallGrant:
    return CallGrant(user_id, "client-1", frozenset(scopes))


ALL_SCOPES = frozenset({"contacts:read", "contacts:write", "deals:read", "deals:write", "notes:read", "notes:write"})
CATALOGUE = load_catalogue(Path(__file__).parents[2] / "src" / "deputy" / "demo" / "acme_tools.toml")


def request_for(name: str, arguments: dict[str, Any]) -> UpstreamRequest:
    tool = CATALOGUE.get(name)
    assert tool is not None
    return build_request(tool, arguments)


class AcmeCredentials:
    """Plays the broker: real Acme tokens for one user, refreshed through the store like a token endpoint would."""

    def __init__(self, store: AcmeStore, scopes: frozenset[str] = ALL_SCOPES, *, refresh_works: bool = True) -> None:
        self.store = store
        self.refresh_works = refresh_works
        self.pair = store.issue_tokens("deputy-demo", ALICE, scopes, secrets.token_hex(8))
        self.issued = [self.pair.access.token]
        self.refreshes = 0

    async def access_token(self, user_id: str) -> str:
        assert user_id == ALICE
        return self.pair.access.token

    async def refreshed_access_token(self, user_id: str, stale: str | None = None) -> str:
        self.refreshes += 1
        if self.refresh_works:
            self.pair = self.store.refresh(self.pair.refresh.token, "deputy-demo", None, rotate=True)
            self.issued.append(self.pair.access.token)
        return self.pair.access.token


class StaticCredentials:
    def __init__(self, token: str = "stub-token-" + "x" * 40) -> None:
        self.token = token
        self.calls = 0

    async def access_token(self, user_id: str) -> str:
        self.calls += 1
        return self.token

    async def refreshed_access_token(self, user_id: str, stale: str | None = None) -> str:
        self.calls += 1
        return self.token


@pytest.fixture
def acme_app() -> Starlette:
    return create_acme_app(default_settings(ISSUER, "https://deputy.example/callback"), clock=FrozenClock())


@pytest.fixture
def store(acme_app: Starlette) -> AcmeStore:
    acme_store: AcmeStore = acme_app.state.acme_store
    return acme_store


@pytest.fixture
async def http(acme_app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=acme_app), base_url=ISSUER) as client:
        yield client


@pytest.fixture
def seen() -> list[object]:
    """Everything a test got back (results and errors); none of it may contain a token the test handed out."""
    return []


def assert_no_token(things: list[object], tokens: list[str]) -> None:
    for thing in things:
        text = repr(thing.data) if isinstance(thing, UpstreamResult) else f"{thing!s} {thing!r}"
        if isinstance(thing, ToolCallError):
            text += thing.message
        for token in tokens:
            assert token not in text


async def call(client: BrokeredApiClient, request: UpstreamRequest, seen: list[object]) -> UpstreamResult:
    try:
        result = await client.call(_grant(ALICE, "crm.read", "crm.write"), request)
    except ToolCallError as exc:
        seen.append(exc)
        raise
    seen.append(result)
    return result


# --- against Acme CRM -----------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_list_search_get_create_update_succeed(
    http: httpx.AsyncClient, store: AcmeStore, seen: list[object]
) -> None:
    creds = AcmeCredentials(store)
    client = BrokeredApiClient(http, API, creds)
    listed = await call(client, request_for("contacts_list", {"limit": 2}), seen)
    assert listed.status == 200 and isinstance(listed.data, dict)
    assert len(listed.data["items"]) == 2 and listed.data["next_cursor"]
    found = await call(client, request_for("contacts_search", {"q": "globex"}), seen)
    assert isinstance(found.data, dict) and [c["name"] for c in found.data["items"]] == ["Carol Chen"]
    carol = found.data["items"][0]
    got = await call(client, request_for("contacts_get", {"id": carol["id"]}), seen)
    assert got.data == carol
    created = await call(client, request_for("contacts_create", {"name": "Zoe Example", "email": None}), seen)
    assert created.status == 201 and isinstance(created.data, dict) and created.data["name"] == "Zoe Example"
    updated = await call(client, request_for("contacts_update", {"id": created.data["id"], "company": "Acme"}), seen)
    assert (
        isinstance(updated.data, dict) and updated.data["company"] == "Acme" and updated.data["name"] == "Zoe Example"
    )
    assert creds.refreshes == 0
    assert_no_token(seen, creds.issued)


@pytest.mark.anyio
async def test_the_broker_refuses_an_operation_outside_the_grant_before_touching_the_credential(
    http: httpx.AsyncClient, store: AcmeStore
) -> None:
    creds = AcmeCredentials(store)
    looked_up: list[str] = []

    class Counting:
        async def access_token(self, user_id: str) -> str:
            looked_up.append(user_id)
            return await creds.access_token(user_id)

        async def refreshed_access_token(self, user_id: str, stale: str | None = None) -> str:
            return await creds.refreshed_access_token(user_id)

    client = BrokeredApiClient(http, API, Counting())
    before = await client.call(_grant(ALICE, "crm.read"), request_for("contacts_list", {"limit": 100}))
    with pytest.raises(ToolCallError) as refused:
        await client.call(_grant(ALICE, "crm.read"), request_for("contacts_create", {"name": "Mallory"}))
    assert refused.value.kind == "rejected" and "crm.write" in refused.value.message
    assert looked_up == [ALICE]  # only the allowed call looked up the credential
    after = await client.call(_grant(ALICE, "crm.read"), request_for("contacts_list", {"limit": 100}))
    assert after.data == before.data  # nothing was created upstream


@pytest.mark.anyio
async def test_an_expired_token_is_refreshed_once_and_the_call_retried(
    http: httpx.AsyncClient, store: AcmeStore, seen: list[object]
) -> None:
    creds = AcmeCredentials(store)
    client = BrokeredApiClient(http, API, creds)
    store.expire_access_tokens(ALICE)
    result = await call(client, request_for("deals_list", {}), seen)
    assert result.status == 200 and creds.refreshes == 1 and len(creds.issued) == 2
    await call(client, request_for("deals_list", {}), seen)
    assert creds.refreshes == 1  # the fresh token is used from then on
    assert_no_token(seen, creds.issued)


@pytest.mark.anyio
async def test_a_second_401_means_reauthorize(http: httpx.AsyncClient, store: AcmeStore, seen: list[object]) -> None:
    creds = AcmeCredentials(store, refresh_works=False)
    client = BrokeredApiClient(http, API, creds)
    store.expire_access_tokens(ALICE)
    with pytest.raises(ToolCallError) as caught:
        await call(client, request_for("notes_list", {}), seen)
    assert caught.value.kind == "reauthorize" and creds.refreshes == 1
    store.revoke_user_grants(ALICE)  # the user removed the app at Acme: refreshing fails too
    with pytest.raises(ToolCallError) as caught:
        await call(client, request_for("notes_list", {}), seen)
    assert caught.value.kind == "reauthorize"
    assert_no_token(seen, creds.issued)


@pytest.mark.anyio
async def test_missing_records_are_not_found(http: httpx.AsyncClient, store: AcmeStore, seen: list[object]) -> None:
    creds = AcmeCredentials(store)
    client = BrokeredApiClient(http, API, creds)
    with pytest.raises(ToolCallError) as caught:
        await call(client, request_for("deals_get", {"id": "deal_999999"}), seen)
    assert caught.value.kind == "not_found"
    assert_no_token(seen, creds.issued)


@pytest.mark.anyio
async def test_upstream_validation_failures_are_rejected(
    http: httpx.AsyncClient, store: AcmeStore, seen: list[object]
) -> None:
    creds = AcmeCredentials(store)
    client = BrokeredApiClient(http, API, creds)
    with pytest.raises(ToolCallError) as caught:  # passes the tool schema, but the contact is not Alice's: 422
        await call(client, request_for("deals_create", {"title": "T", "amount": 5, "contact_id": "con_999999"}), seen)
    assert caught.value.kind == "rejected" and "contact_id" in caught.value.message
    assert_no_token(seen, creds.issued)


@pytest.mark.anyio
async def test_a_missing_upstream_scope_is_rejected(
    http: httpx.AsyncClient, store: AcmeStore, seen: list[object]
) -> None:
    creds = AcmeCredentials(store, frozenset({"contacts:read"}))
    client = BrokeredApiClient(http, API, creds)
    with pytest.raises(ToolCallError) as caught:
        await call(client, request_for("contacts_create", {"name": "Mallory"}), seen)
    assert caught.value.kind == "rejected"
    assert_no_token(seen, creds.issued)


@pytest.mark.anyio
async def test_an_oversized_response_is_a_bad_response(
    http: httpx.AsyncClient, store: AcmeStore, seen: list[object]
) -> None:
    creds = AcmeCredentials(store)
    client = BrokeredApiClient(http, API, creds, max_response_bytes=64)
    with pytest.raises(ToolCallError) as caught:
        await call(client, request_for("notes_list", {}), seen)
    assert caught.value.kind == "bad_response"


@pytest.mark.anyio
async def test_a_path_that_could_escape_the_api_is_refused_before_any_credential_is_fetched(
    http: httpx.AsyncClient,
) -> None:
    creds = StaticCredentials()
    client = BrokeredApiClient(http, API, creds)
    for path in [
        "/contacts/..%2F..%2Ftoken",
        "/contacts/%252e%252e/x",
        "contacts",
        "//evil.example/x",
        "/contacts?x=1",
        "/contacts#f",
        "/contacts/a b",
        "/contacts\\..",
        "/contacts/é",
    ]:
        with pytest.raises(ToolCallError) as caught:
            await client.call(_grant(ALICE), UpstreamRequest("GET", path))
        assert caught.value.kind == "rejected"
    built = request_for("contacts_get", {"id": "con_1"})
    assert built.path == "/contacts/con_1"
    assert creds.calls == 0


@pytest.mark.anyio
async def test_no_api_configured_is_unavailable(http: httpx.AsyncClient) -> None:
    client = BrokeredApiClient(http, "", StaticCredentials())
    with pytest.raises(ToolCallError) as caught:
        await client.call(_grant(ALICE), UpstreamRequest("GET", "/contacts"))
    assert caught.value.kind == "unavailable"


@pytest.mark.parametrize(
    "base",
    [
        "ftp://acme.example/api",
        "https://user:pw@acme.example/api",
        "https://acme.example/api?x=1",
        "not a url",
        "https:///api",
    ],
)
def test_a_bad_base_url_is_a_config_error(base: str) -> None:
    with pytest.raises(ConfigError):
        BrokeredApiClient(httpx.AsyncClient(), base, StaticCredentials())


# --- against stub upstreams -----------------------------------------------------------------------------------


async def _hang(request: Request) -> Response:
    await anyio.Event().wait()
    raise AssertionError("unreachable")


async def _echo(request: Request) -> Response:
    headers = dict(request.headers)
    return JSONResponse({"you_sent": headers, "auth": headers.get("authorization"), "query": str(request.url.query)})


async def _stream(request: Request) -> Response:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"["
        for _ in range(10):
            yield b'"' + b"x" * 97 + b'",'
        yield b"0]"

    return StreamingResponse(chunks(), media_type="application/json")  # no Content-Length: counted while reading


def _stub() -> Starlette:
    token_echo = "Bearer stub-token-" + "x" * 40
    return Starlette(
        routes=[
            Route("/api/v1/boom", lambda r: JSONResponse({"error": "oops"}, status_code=503)),
            Route("/api/v1/limited", lambda r: JSONResponse({}, status_code=429, headers={"Retry-After": "86400"})),
            Route("/api/v1/hang", _hang),
            Route("/api/v1/stream", _stream),
            Route("/api/v1/redirect", lambda r: RedirectResponse("https://evil.example/steal", status_code=302)),
            Route("/api/v1/text", lambda r: PlainTextResponse("hello")),
            Route("/api/v1/empty", lambda r: Response(status_code=204), methods=["DELETE"]),
            Route("/api/v1/echo", _echo, methods=["GET", "POST"]),
            Route("/api/v1/leak", lambda r: JSONResponse({"error_description": f"bad header {token_echo}"}, 422)),
            Route(
                "/api/v1/cookie", lambda r: JSONResponse({}, headers={"Set-Cookie": "session=alice-session; Path=/"})
            ),
            Route("/api/v1/teapot", lambda r: JSONResponse({"message": "short and stout"}, status_code=418)),
        ]
    )


@pytest.fixture
async def stub_http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=_stub())) as client:
        yield client


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("/boom", "unavailable"),
        ("/limited", "rate_limited"),
        ("/redirect", "bad_response"),
        ("/text", "bad_response"),
        ("/leak", "rejected"),
        ("/teapot", "rejected"),
    ],
)
@pytest.mark.anyio
async def test_stub_statuses_map_to_kinds(
    stub_http: httpx.AsyncClient, path: str, kind: str, seen: list[object]
) -> None:
    creds = StaticCredentials()
    client = BrokeredApiClient(stub_http, "https://stub.example/api/v1/", creds)
    with pytest.raises(ToolCallError) as caught:
        await call(client, UpstreamRequest("GET", path), seen)
    assert caught.value.kind == kind
    if kind == "rate_limited":
        assert caught.value.retry_after == 3600
    assert_no_token(seen, [creds.token])


@pytest.mark.anyio
async def test_a_hanging_upstream_times_out(stub_http: httpx.AsyncClient) -> None:
    client = BrokeredApiClient(stub_http, "https://stub.example/api/v1", StaticCredentials(), timeout=0.05)
    with pytest.raises(ToolCallError) as caught:
        await client.call(_grant(ALICE), UpstreamRequest("GET", "/hang"))
    assert caught.value.kind == "unavailable"


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (httpx.ConnectError("refused"), "unavailable"),
        (httpx.ReadTimeout("slow"), "unavailable"),
        (httpx.RemoteProtocolError("garbage"), "unavailable"),
        (httpx.DecodingError("bad gzip"), "bad_response"),
    ],
)
@pytest.mark.anyio
async def test_transport_failures_map_to_kinds(error: Exception, kind: str) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise error

    async with httpx.AsyncClient(transport=httpx.MockTransport(fail)) as http:
        client = BrokeredApiClient(http, API, StaticCredentials())
        with pytest.raises(ToolCallError) as caught:
            await client.call(_grant(ALICE), UpstreamRequest("GET", "/contacts"))
    assert caught.value.kind == kind and caught.value.__cause__ is None


@pytest.mark.anyio
async def test_a_streamed_body_is_cut_off_at_the_limit(stub_http: httpx.AsyncClient) -> None:
    roomy = BrokeredApiClient(stub_http, "https://stub.example/api/v1", StaticCredentials(), max_response_bytes=1003)
    assert (await roomy.call(_grant(ALICE), UpstreamRequest("GET", "/stream"))).status == 200  # exactly at the limit
    client = BrokeredApiClient(stub_http, "https://stub.example/api/v1", StaticCredentials(), max_response_bytes=1002)
    with pytest.raises(ToolCallError) as caught:
        await client.call(_grant(ALICE), UpstreamRequest("GET", "/stream"))
    assert caught.value.kind == "bad_response"


@pytest.mark.anyio
async def test_a_204_has_no_data(stub_http: httpx.AsyncClient) -> None:
    client = BrokeredApiClient(stub_http, "https://stub.example/api/v1", StaticCredentials())
    assert await client.call(_grant(ALICE), UpstreamRequest("DELETE", "/empty")) == UpstreamResult(204, None)


@pytest.mark.anyio
async def test_the_token_goes_into_that_request_only_and_never_comes_back(
    stub_http: httpx.AsyncClient, seen: list[object]
) -> None:
    creds = StaticCredentials()
    client = BrokeredApiClient(stub_http, "https://stub.example/api/v1", creds)
    result = await call(client, UpstreamRequest("POST", "/echo", (("a", "1"), ("a", "2")), {"x": 1}), seen)
    assert isinstance(result.data, dict)
    assert result.data["auth"] == "Bearer [redacted]"  # the upstream echoed it; the result must not carry it
    assert result.data["query"] == "a=1&a=2" and result.data["you_sent"]["content-type"] == "application/json"
    assert "authorization" not in stub_http.headers
    assert_no_token(seen, [creds.token])


@pytest.mark.anyio
async def test_upstream_cookies_are_not_replayed_into_later_calls(stub_http: httpx.AsyncClient) -> None:
    client = BrokeredApiClient(stub_http, "https://stub.example/api/v1", StaticCredentials())
    await client.call(_grant(ALICE), UpstreamRequest("GET", "/cookie"))
    result = await client.call(_grant("acme-u-1002"), UpstreamRequest("GET", "/echo"))
    assert isinstance(result.data, dict) and "cookie" not in result.data["you_sent"]


# --- pure mapping ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (301, "bad_response"),
        (302, "bad_response"),
        (307, "bad_response"),
        (400, "rejected"),
        (401, "reauthorize"),
        (403, "rejected"),
        (404, "not_found"),
        (405, "rejected"),
        (408, "unavailable"),
        (409, "rejected"),
        (410, "not_found"),
        (422, "rejected"),
        (429, "rate_limited"),
        (500, "unavailable"),
        (502, "unavailable"),
        (503, "unavailable"),
        (599, "unavailable"),
        (600, "bad_response"),
        (199, "bad_response"),
    ],
)
def test_map_status_kinds(status: int, kind: str) -> None:
    with pytest.raises(ToolCallError) as caught:
        map_status(status, b'{"error": "x"}')
    assert caught.value.kind == kind


@pytest.mark.parametrize(
    ("status", "body", "data"),
    [
        (200, b'{"a": [1, 2]}', {"a": [1, 2]}),
        (201, b'"ok"', "ok"),
        (200, b"null", None),
        (204, b"", None),
        (204, b"ignored", None),
    ],
)
def test_map_status_results(status: int, body: bytes, data: object) -> None:
    assert map_status(status, body) == UpstreamResult(status, data)


@pytest.mark.parametrize("body", [b"", b"<html>", b"{", b'{"a": NaN}', b"\xff\xfe", b"[" * 100_000])
def test_a_2xx_without_json_is_a_bad_response(body: bytes) -> None:
    with pytest.raises(ToolCallError) as caught:
        map_status(200, body)
    assert caught.value.kind == "bad_response"


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("120", 120),
        (" 5 ", 5),
        ("999999", 3600),
        ("0", 0),
        ("-1", None),
        ("1.5", None),
        ("", None),
        (None, None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", None),
        ("١٢", None),
        ("9" * 40, None),
    ],
)
def test_retry_after_is_delay_seconds_capped_at_an_hour(header: str | None, seconds: int | None) -> None:
    assert parse_retry_after(header) == seconds
    with pytest.raises(ToolCallError) as caught:
        map_status(429, b"{}", retry_after=header)
    assert caught.value.retry_after == seconds


def test_rejections_carry_a_short_sanitized_upstream_message() -> None:
    token = "acme_at_" + "A" * 43
    body = json.dumps(
        {"error": "validation_failed", "error_description": f"name: too long; got Bearer {token} " + "x" * 500}
    ).encode()
    with pytest.raises(ToolCallError) as caught:
        map_status(422, body, redact=[token])
    message = caught.value.message
    assert caught.value.kind == "rejected" and "name: too long" in message
    assert token not in message and "AAAAAAAA" not in message and len(message) <= 260


@pytest.mark.parametrize(
    "body",
    [{"message": "m"}, {"detail": "d"}, {"error": {"message": "nested"}}, {"error": "code"}, ["not", "an", "object"]],
)
def test_rejection_detail_is_taken_from_common_fields(body: object) -> None:
    with pytest.raises(ToolCallError) as caught:
        map_status(400, json.dumps(body).encode())
    assert caught.value.kind == "rejected"


def test_results_never_carry_the_token_even_when_the_upstream_echoes_it() -> None:
    token = "secret-token-value"
    body = json.dumps({"headers": {"Authorization": f"Bearer {token}"}, token: [token]}).encode()
    result = map_status(200, body, redact=[token])
    assert token not in json.dumps(result.data)


@pytest.mark.parametrize(
    "spelling",
    [
        lambda t: t,  # literally
        lambda t: t.replace("/", "\\/"),  # "\/", as some encoders write a slash
        lambda t: "".join(f"\\u{ord(c):04x}" for c in t),  # every character \u-escaped
        lambda t: t[:5] + "\\u" + f"{ord(t[5]):04x}" + t[6:],  # one character escaped
    ],
)
def test_an_echoed_token_is_scrubbed_however_the_json_spells_it(spelling: Callable[[str], str]) -> None:
    token = "acme/at+SECRET-value_0123456789"
    body = ('{"echo": "' + spelling(token) + '", "ok": 1}').encode()
    assert json.loads(body)["echo"] == token  # the body really carries the token
    result = map_status(200, body, redact=[token])
    assert token not in json.dumps(result.data) and result.data == {"echo": "[redacted]", "ok": 1}


def test_a_result_without_the_token_is_returned_as_parsed() -> None:
    body = json.dumps({"items": [{"name": "Ann", "note": "ünïcode"}]}, ensure_ascii=False).encode()
    assert map_status(200, body, redact=["some-token-value"]).data == json.loads(body)


@pytest.mark.parametrize(
    ("text", "absent"),
    [
        ("Bearer abc.def", "abc.def"),
        ("token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl", "eyJhbGci"),
        ("x\x00y\nz\u202e", "\x00"),
        ("the secret s3cr3t here", "s3cr3t"),
    ],
)
def test_sanitize_strips_credentials_and_control_characters(text: str, absent: str) -> None:
    cleaned = sanitize(text, ["s3cr3t"])
    assert absent not in cleaned and cleaned.isprintable() and len(sanitize(text * 100)) <= 200


@pytest.mark.anyio
async def test_configured_api_headers_are_sent_but_never_replace_the_credential(stub_http: httpx.AsyncClient) -> None:
    headers = {"Notion-Version": "2022-06-28", "Accept": "application/vnd.github+json"}
    client = BrokeredApiClient(stub_http, "https://stub.example/api/v1", StaticCredentials(), headers=headers)
    result = await client.call(_grant(ALICE), UpstreamRequest("GET", "/echo"))
    assert isinstance(result.data, dict)
    sent = result.data["you_sent"]
    assert sent["notion-version"] == "2022-06-28" and sent["accept"] == "application/vnd.github+json"
    assert result.data["auth"] == "Bearer [redacted]"  # still Deputy's injected credential


@pytest.mark.parametrize("name", ["Authorization", "cookie", "Host", "bad header"])
def test_api_headers_that_would_carry_or_bend_a_credential_are_refused(name: str) -> None:
    from deputy.config import UpstreamSettings

    with pytest.raises(ValueError, match="api_headers"):
        UpstreamSettings(client_id="c", discovery_url="https://up.example/.well-known/x", api_headers={name: "v"})


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be", "utf-16", "utf-32", "utf-8-sig"])
def test_an_echoed_token_is_scrubbed_in_any_json_encoding(codec: str) -> None:
    """``json.loads`` reads UTF-16 and UTF-32 bodies too, where a byte search for the token finds nothing."""
    token = "upstream-access-token-0123456789abcdef"
    body = json.dumps({"echo": f"Bearer {token}"}).encode(codec)
    assert token not in json.dumps(map_status(200, body, redact=[token]).data)


def test_a_token_with_characters_json_escapes_is_scrubbed() -> None:
    token = 'abc"def\\ghi-0123456789'  # printable ASCII without spaces: accepted as a bearer token
    body = json.dumps({"echo": token}).encode()
    assert token not in json.dumps(map_status(200, body, redact=[token]).data)
