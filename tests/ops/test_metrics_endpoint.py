"""/metrics: who may read it, and what it counts (HTTP by route template, audit events, refusals, upstream time)."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from ops_support import client_from, scrape, value
from sqlalchemy import text

from deputy.audit import log as audit_log
from deputy.errors import ConfigError
from support import MCP_HEADERS, Env, deputy_settings, make_env, make_mcp_env

pytestmark = pytest.mark.anyio

TOKEN = "metrics-" + "k" * 24


async def test_metrics_are_served_to_a_loopback_client_when_no_token_is_set(env: Env) -> None:
    async with client_from(env.app) as c:
        r = await c.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    assert r.headers["cache-control"] == "no-store"
    assert "deputy_http_requests_total" in r.text and "process_resident_memory_bytes" in r.text


async def test_metrics_are_refused_to_a_remote_client_when_no_token_is_set(env: Env) -> None:
    async with env.api() as api:  # 198.51.100.7
        r = await api.get("/metrics")
    assert r.status_code == 403
    assert r.json()["error"] == "access_denied"
    assert "deputy_" not in r.text


@pytest.mark.parametrize("header", ["X-Forwarded-For", "Forwarded", "X-Real-IP"])
async def test_a_proxied_request_from_loopback_is_refused(env: Env, header: str) -> None:
    """A reverse proxy on the same host makes every request come from loopback; its forwarding header gives it away."""
    async with client_from(env.app, **{header: "203.0.113.9"}) as c:
        r = await c.get("/metrics")
    assert r.status_code == 403


@pytest.fixture
def token_env(tmp_path: Path) -> Env:
    return make_env(tmp_path, server={"metrics_token": TOKEN})


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token-of-some-length", f"Basic {TOKEN}", f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", "Bearer"],
)
async def test_with_a_token_set_only_that_bearer_token_is_accepted(token_env: Env, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    async with client_from(token_env.app, **headers) as c:  # loopback is not enough once a token is set
        r = await c.get("/metrics")
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert TOKEN not in r.text


async def test_with_a_token_set_a_remote_scraper_presenting_it_is_served(token_env: Env) -> None:
    async with client_from(token_env.app, ip="198.51.100.7", Authorization=f"Bearer {TOKEN}") as c:
        r = await c.get("/metrics")
    assert r.status_code == 200 and "deputy_http_requests_total" in r.text


def test_a_short_metrics_token_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        deputy_settings(tmp_path, server={"metrics_token": "short"})
    assert "server.metrics_token" in str(err.value) and "short" not in str(err.value)


def test_the_default_shutdown_grace_is_twenty_seconds(tmp_path: Path) -> None:
    assert deputy_settings(tmp_path).server.shutdown_grace_seconds == 20


async def test_requests_are_counted_by_route_template_and_unknown_paths_collapse(env: Env) -> None:
    probe = "/no-such-page-" + secrets.token_hex(6)
    route = {"route": "/.well-known/oauth-authorization-server", "method": "GET", "status": "200"}
    other = {"route": "other", "method": "GET", "status": "404"}
    before = await scrape(env.app)
    async with env.api() as api:
        await api.get("/.well-known/oauth-authorization-server")
        await api.get(probe)
        await api.request("BREW", probe)
    async with client_from(env.app) as c:
        r = await c.get("/metrics")
    after = await scrape(env.app)
    assert value(after, "deputy_http_requests_total", route) == value(before, "deputy_http_requests_total", route) + 1
    assert value(after, "deputy_http_requests_total", other) == value(before, "deputy_http_requests_total", other) + 1
    odd = {"route": "other", "method": "other", "status": "404"}
    assert value(after, "deputy_http_requests_total", odd) >= 1
    assert probe not in r.text and "BREW" not in r.text
    duration = ("deputy_http_request_duration_seconds_count", {"route": "/.well-known/oauth-authorization-server"})
    assert value(after, *duration) > value(before, *duration)


async def test_a_full_flow_shows_up_as_audit_events_and_upstream_token_time(env: Env) -> None:
    events = [("consent.shown", "ok"), ("consent.approved", "ok"), ("code.issued", "ok"), ("code.redeemed", "ok")]
    upstream = ("deputy_upstream_request_duration_seconds_count", {"kind": "token"})
    before = await scrape(env.app)
    await env.full_flow()
    after = await scrape(env.app)
    for event, outcome in events:
        labels = {"event": event, "outcome": outcome}
        assert (
            value(after, "deputy_audit_events_total", labels) == value(before, "deputy_audit_events_total", labels) + 1
        )
    assert value(after, *upstream) == value(before, *upstream) + 1


async def test_a_refused_code_is_counted_by_grant_and_reason(env: Env) -> None:
    client = await env.register()
    labels = {"grant": "authorization_code", "reason": "unknown_or_expired"}
    before = await scrape(env.app)
    r = await env.token(grant_type="authorization_code", code="dpc_" + "x" * 43, client_id=client["client_id"],
                        code_verifier="v" * 43, redirect_uri="https://app.example/callback")  # fmt: skip
    after = await scrape(env.app)
    assert r.status_code == 400
    assert (
        value(after, "deputy_tokens_refused_total", labels) == value(before, "deputy_tokens_refused_total", labels) + 1
    )


async def test_a_failing_observer_never_fails_the_audited_action(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(event: str, outcome: str, detail: dict[str, Any]) -> None:
        raise RuntimeError("metrics backend down")

    monkeypatch.setattr(audit_log, "OBSERVERS", [broken, *audit_log.OBSERVERS])
    client = await env.register()
    with env.ctx.store.db.read() as conn:
        rows = conn.execute(
            text("SELECT client_id FROM audit_events WHERE event = 'client.registered'")
        ).scalars().all()  # fmt: skip
    assert client["client_id"] in rows


@pytest.fixture
async def mcp(tmp_path: Path) -> AsyncIterator[Env]:
    env = make_mcp_env(tmp_path)
    async with env.app.router.lifespan_context(env.app):  # type: ignore[attr-defined]
        yield env


async def test_a_brokered_api_call_is_timed_as_kind_api(mcp: Env) -> None:
    _, tokens = await mcp.full_flow()
    series = ("deputy_upstream_request_duration_seconds_count", {"kind": "api"})
    called = {"event": "tool.called", "outcome": "ok"}
    before = await scrape(mcp.app)
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "contacts_list", "arguments": {}}}
    async with mcp.api() as api:
        r = await api.post("/mcp", content=json.dumps(body),
                           headers={**MCP_HEADERS, "authorization": f"Bearer {tokens['access_token']}"})  # fmt: skip
    after = await scrape(mcp.app)
    assert r.status_code == 200 and not r.json()["result"].get("isError"), r.text
    assert value(after, *series) == value(before, *series) + 1
    assert value(after, "deputy_audit_events_total", called) == value(before, "deputy_audit_events_total", called) + 1
