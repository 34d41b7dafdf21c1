"""Regressions for an independent security review of the MCP path and the broker: each test is the attack or the
race, asserting the secure outcome.

* a caller-chosen tool name that looks like a token must not make the audit fail for everyone else's calls;
* two instances needing an upstream refresh for one user must refresh once (a rotating upstream would otherwise
  see its refresh token reused and revoke the grant);
* a revocation committed with a timestamp older than the last poll (clock skew, lock wait) must still be seen.
"""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from deputy.app import build_context, create_app
from support import ALICE, BOB, DEPUTY, MCP_HEADERS, Router, make_mcp_env

pytestmark = pytest.mark.anyio


async def _call(
    app: Any, token: str, name: str, arguments: dict[str, Any] | None = None, ident: int = 1
) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=("198.51.100.7", 50000))
    async with httpx.AsyncClient(transport=transport, base_url=DEPUTY) as api:
        body = {
            "jsonrpc": "2.0",
            "id": ident,
            "method": "tools/call",
            "params": {"name": name, "arguments": arguments or {}},
        }
        return await api.post(
            "/mcp", content=json.dumps(body), headers={**MCP_HEADERS, "authorization": f"Bearer {token}"}
        )


async def test_another_users_tool_name_cannot_drop_my_audit_entries(tmp_path: Path) -> None:
    env = make_mcp_env(tmp_path)
    async with env.app.router.lifespan_context(env.app):  # type: ignore[attr-defined]
        _, alice = await env.full_flow(user=ALICE, scope="crm.read crm.write")
        _, bob = await env.full_flow(user=BOB, scope="crm.read")  # the attacker: own account, read-only
        evil = "eyJ" + "A" * 20  # shaped like a JWT, so the audit scrubber matches it
        calls = []
        for i in range(20):
            calls.append(
                _call(
                    env.app, alice["access_token"], "contacts_create", {"name": f"V{i}", "email": f"v{i}@x.example"}, i
                )
            )
            calls.append(_call(env.app, bob["access_token"], evil, ident=1000 + i))
        results = await asyncio.gather(*calls)
        with env.ctx.store.read() as tx:
            events = tx.audit.events("tool.called")
    assert all(r.status_code == 200 for r in results)
    assert sum(1 for e in events if e["detail"]["tool"] == "contacts_create") == 20
    assert all(
        e["detail"]["tool"].startswith("unknown:")
        for e in events
        if e["user_id"] != events[0]["user_id"] and e["detail"]["tool"] != "contacts_create"
    )
    assert evil not in repr(events)


async def test_write_tools_are_audited_before_they_reach_the_upstream(tmp_path: Path) -> None:
    env = make_mcp_env(tmp_path, intents=False)
    async with env.app.router.lifespan_context(env.app):  # type: ignore[attr-defined]
        _, alice = await env.full_flow(scope="crm.read crm.write")
        r = await _call(env.app, alice["access_token"], "contacts_create", {"name": "W", "email": "w@x.example"})
        with env.ctx.store.read() as tx:
            names = [e["event"] for e in tx.audit.events() if e["event"].startswith("tool.")]
    assert r.status_code == 200 and names == ["tool.started", "tool.called"]


async def test_two_instances_refresh_the_upstream_token_once(tmp_path: Path) -> None:
    env = make_mcp_env(tmp_path)
    inner = env.acme_app

    async def slow_token(scope: Scope, receive: Receive, send: Send) -> None:  # realistic upstream latency
        if scope["type"] == "http" and scope["path"] == "/token":
            await asyncio.sleep(0.3)
        await inner(scope, receive, send)

    env.app.state.deps.http._transport.apps["acme.example"] = httpx.ASGITransport(app=slow_token)  # type: ignore[attr-defined]
    ctx2 = build_context(env.settings, clock=env.clock)  # a second instance on the same database and key ring
    app2 = create_app(env.settings, http=httpx.AsyncClient(transport=Router({"acme.example": slow_token})), ctx=ctx2)
    async with env.app.router.lifespan_context(env.app), app2.router.lifespan_context(app2):  # type: ignore[attr-defined]
        client, tokens = await env.full_flow(scope="crm.read")
        before = inner.state.acme_stats.refreshes
        env.clock.advance(3700)  # the stored upstream access token is past its expires_in
        renewed = await env.token(
            grant_type="refresh_token", refresh_token=tokens["refresh_token"], client_id=client["client_id"]
        )
        token = renewed.json()["access_token"]
        first, second = await asyncio.gather(
            _call(env.app, token, "contacts_list", ident=2), _call(app2, token, "contacts_list", ident=3)
        )
        later = await _call(env.app, token, "contacts_list", ident=4)
    for r in (first, second, later):
        assert r.status_code == 200 and r.json()["result"]["isError"] is False, r.text[:300]
    assert inner.state.acme_stats.refreshes - before == 1
    ctx2.store.db.dispose()


async def test_revocation_is_seen_even_if_its_timestamp_predates_the_last_poll(tmp_path: Path) -> None:
    env = make_mcp_env(tmp_path)
    async with env.app.router.lifespan_context(env.app):  # type: ignore[attr-defined]
        _, tokens = await env.full_flow(scope="crm.read")
        token = tokens["access_token"]
        env.app.state.mcp.revocations.interval = 0  # type: ignore[attr-defined]
        env.clock.advance(10)
        assert (await _call(env.app, token, "deputy_whoami")).status_code == 200  # a poll at T
        grant_id = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))["gid"]
        with env.ctx.store.write() as tx:  # committed now, stamped earlier (a lock wait, or clock skew)
            tx.grants.revoke(grant_id, now=env.clock.now() - 6, reason="code-reuse")
        env.clock.advance(1)
        assert (await _call(env.app, token, "deputy_whoami")).status_code == 401
