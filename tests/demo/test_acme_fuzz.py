"""No input, however malformed, makes Acme answer with a server error.

httpx's ASGI transport re-raises unhandled exceptions, so a crash fails these tests loudly instead of being
hidden behind a 500.
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

import httpx
import pytest
from acme_flow import CALLBACK, CLIENT_ID, CLIENT_SECRET, ISSUER, authorize_code, exchange, new_browser
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deputy.demo.acme import create_acme_app, default_settings

pytestmark = pytest.mark.anyio

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
KEYS = st.sampled_from(
    [
        "response_type",
        "client_id",
        "redirect_uri",
        "scope",
        "state",
        "code_challenge",
        "code_challenge_method",
        "grant_type",
        "code",
        "code_verifier",
        "refresh_token",
        "client_secret",
        "token",
        "username",
        "password",
        "return_to",
        "csrf_token",
        "request",
        "decision",
    ]
)
VALUES = st.one_of(
    st.text(max_size=300),
    st.sampled_from(["code", CLIENT_ID, CALLBACK, "profile", "S256", "authorization_code", "refresh_token", "alice"]),
)
PAIRS = st.lists(st.tuples(st.one_of(KEYS, st.text(max_size=20)), VALUES), max_size=12)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=50),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)

APP = create_acme_app(default_settings(ISSUER, CALLBACK))


def _client() -> httpx.AsyncClient:
    return new_browser(APP)


@FUZZ
@given(pairs=PAIRS)
async def test_authorize_never_fails(pairs: list[tuple[str, str]]) -> None:
    async with _client() as client:
        response = await client.get(f"/authorize?{urlencode(pairs)}")
    assert response.status_code in (200, 302, 400)


@FUZZ
@given(pairs=PAIRS, path=st.sampled_from(["/token", "/revoke", "/login", "/consent", "/logout"]))
async def test_form_endpoints_never_fail(pairs: list[tuple[str, str]], path: str) -> None:
    async with _client() as client:
        response = await client.post(path, data=dict(pairs), auth=(CLIENT_ID, CLIENT_SECRET))
    assert response.status_code < 500


@FUZZ
@given(
    body=st.binary(max_size=400), content_type=st.sampled_from(["application/x-www-form-urlencoded", "text/plain", ""])
)
async def test_raw_token_bodies_never_fail(body: bytes, content_type: str) -> None:
    async with _client() as client:
        response = await client.post("/token", content=body, headers={"content-type": content_type})
    assert response.status_code < 500


@FUZZ
@given(header=st.binary(max_size=80) | st.text(max_size=80).map(lambda text: "Basic " + text).map(str.encode))
async def test_authorization_headers_never_fail(header: bytes) -> None:
    safe = header.translate(None, b"\r\n\x00")
    async with _client() as client:
        for path in ("/token", "/userinfo", "/api/v1/contacts"):
            response = await client.request(
                "POST" if path == "/token" else "GET", path, headers={b"authorization": safe}, data={"grant_type": "x"}
            )
            assert response.status_code < 500


@FUZZ
@given(payload=JSON_VALUES, resource=st.sampled_from(["contacts", "deals", "notes"]), patch=st.booleans())
async def test_api_bodies_never_fail(payload: object, resource: str, patch: bool) -> None:
    async with _client() as client:
        code = (await authorize_code(client))["code"]
        token = (await exchange(client, code)).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}", "content-type": "application/json"}
        path = f"/api/v1/{resource}"
        if patch:
            first = (await client.get(path, headers=headers)).json()["items"][0]["id"]
            response = await client.patch(f"{path}/{first}", content=json.dumps(payload), headers=headers)
        else:
            response = await client.post(path, content=json.dumps(payload), headers=headers)
    assert response.status_code in (200, 201, 422)


@FUZZ
@given(params=st.dictionaries(st.sampled_from(["q", "limit", "cursor"]), st.text(max_size=300), max_size=3))
async def test_list_parameters_never_fail(params: dict[str, str]) -> None:
    async with _client() as client:
        code = (await authorize_code(client))["code"]
        token = (await exchange(client, code)).json()["access_token"]
        for path in ("/api/v1/contacts", "/api/v1/deals/search"):
            response = await client.get(path, params=params, headers={"Authorization": f"Bearer {token}"})
            assert response.status_code in (200, 422)
