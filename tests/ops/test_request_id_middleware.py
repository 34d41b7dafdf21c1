"""X-Request-Id: kept when well formed, generated otherwise, on every response, and in the audit entries."""

from __future__ import annotations

import re

import pytest
from ops_support import client_from, scrape, value
from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from deputy.http.request_id import accept_request_id
from support import Env

pytestmark = pytest.mark.anyio

GENERATED = re.compile(r"[0-9a-f]{16}")


@pytest.mark.parametrize("incoming", ["abc", "lb-7f3a.2_x", "A" * 64, "0"])
def test_a_well_formed_incoming_id_is_kept(incoming: str) -> None:
    assert accept_request_id(incoming.encode()) == incoming


@pytest.mark.parametrize("incoming", [None, "", "A" * 65, "has space", "semi;colon", "näive", "a\r\nSet-Cookie: x=y"])
def test_anything_else_is_replaced_by_a_fresh_id(incoming: str | None) -> None:
    result = accept_request_id(None if incoming is None else incoming.encode("utf-8"))
    assert GENERATED.fullmatch(result)
    assert result != accept_request_id(None if incoming is None else incoming.encode("utf-8"))


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/.well-known/oauth-authorization-server", 200),
        ("GET", "/healthz", 200),
        ("GET", "/no-such-path", 404),
        ("POST", "/mcp", 401),
        ("POST", "/register", 400),
    ],
)
async def test_every_response_carries_a_request_id(env: Env, method: str, path: str, status: int) -> None:
    async with env.api() as api:
        r = await api.request(method, path, content=b"{")
    assert r.status_code == status
    assert GENERATED.fullmatch(r.headers["x-request-id"])


async def test_a_refused_oversized_body_still_carries_the_request_id(env: Env) -> None:
    async with env.api() as api:
        r = await api.post("/register", content=b"x" * (env.settings.server.max_body_bytes + 1),
                           headers={"X-Request-Id": "big-body-1"})  # fmt: skip
    assert r.status_code == 413 and r.headers["x-request-id"] == "big-body-1"


async def test_an_incoming_id_is_echoed_once_and_a_bad_one_replaced(env: Env) -> None:
    async with env.api() as api:
        kept = await api.get("/healthz", headers={"X-Request-Id": "edge-42.a_b"})
        replaced = await api.get("/healthz", headers={"X-Request-Id": "x" * 65})
    assert kept.headers.get_list("x-request-id") == ["edge-42.a_b"]
    assert GENERATED.fullmatch(replaced.headers["x-request-id"])


async def test_the_request_id_is_recorded_on_the_audit_entries_of_that_request(env: Env) -> None:
    async with env.api() as api:
        r = await api.post(
            "/register",
            json={"client_name": "Traced", "redirect_uris": ["https://app.example/callback"],
                  "token_endpoint_auth_method": "none"},
            headers={"X-Request-Id": "trace-reg-1"},
        )  # fmt: skip
    assert r.status_code == 201 and r.headers["x-request-id"] == "trace-reg-1"
    with env.ctx.store.db.read() as conn:
        row = conn.execute(
            text("SELECT request_id FROM audit_events WHERE event = 'client.registered' AND client_id = :c"),
            {"c": r.json()["client_id"]},
        ).one()
    assert row.request_id == "trace-reg-1"


async def test_an_unexpected_error_answers_500_with_the_request_id_and_no_detail(env: Env) -> None:
    async def fails(request: Request) -> Response:
        raise RuntimeError("secret-ish internal detail")

    env.app.router.routes.append(Route("/fails", fails))  # type: ignore[attr-defined]
    labels = {"route": "/fails", "method": "GET", "status": "500"}
    async with client_from(env.app, **{"X-Request-Id": "boom-1"}) as c:
        r = await c.get("/fails")
    assert value(await scrape(env.app), "deputy_http_requests_total", labels) == 1
    assert r.status_code == 500
    assert r.headers["x-request-id"] == "boom-1"
    assert r.json() == {"error": "server_error", "error_description": "unexpected error"}
