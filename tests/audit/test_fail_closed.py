"""No audit entry, no action (invariant 7): when the audit log refuses a write, the action that wanted to record
itself fails and leaves nothing behind; once the log takes writes again, the same action succeeds.

The log is made to refuse with a SQLite trigger on ``audit_events``, so every other table works normally.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from audit_support import check
from sqlalchemy import func, select, text

from deputy.storage.sql.schema import clients
from support import APP_REDIRECT, DEPUTY, MCP_HEADERS, Env, make_mcp_env

pytestmark = pytest.mark.anyio


def break_audit(env: Env) -> None:
    with env.ctx.store.db.engine.begin() as conn:
        conn.execute(text("CREATE TRIGGER audit_down BEFORE INSERT ON audit_events BEGIN "
                          "SELECT RAISE(ABORT, 'audit log unavailable'); END"))  # fmt: skip


def repair_audit(env: Env) -> None:
    with env.ctx.store.db.engine.begin() as conn:
        conn.execute(text("DROP TRIGGER audit_down"))


def deputy_client(env: Env) -> httpx.AsyncClient:
    """Straight to Deputy, receiving the 500 the app renders (the harness's router re-raises app exceptions)."""
    transport = httpx.ASGITransport(app=env.app, raise_app_exceptions=False, client=(env.client_ip, 50000))
    return httpx.AsyncClient(transport=transport, base_url=DEPUTY)


def client_count(env: Env) -> int:
    with env.ctx.store.read() as tx:
        return int(tx.conn.execute(select(func.count()).select_from(clients)).scalar_one())


def audit_events(env: Env, event: str) -> list[dict[str, object]]:
    with env.ctx.store.read() as tx:
        return tx.audit.events(event)


async def test_a_registration_that_cannot_be_audited_does_not_happen(env: Env) -> None:
    before = client_count(env)
    break_audit(env)
    async with deputy_client(env) as api:
        refused = await api.post("/register", json={"client_name": "A", "redirect_uris": [APP_REDIRECT],
                                                    "token_endpoint_auth_method": "none"})  # fmt: skip
    assert refused.status_code == 500
    assert refused.json()["error"] == "server_error" and "client_id" not in refused.json()
    assert client_count(env) == before
    repair_audit(env)
    registered = await env.register()  # positive control: the same request, with the log working
    assert client_count(env) == before + 1
    assert [e["client_id"] for e in audit_events(env, "client.registered")] == [registered["client_id"]]
    assert check(env.ctx.store.db, env.ctx.keys).ok


async def test_a_refresh_that_cannot_be_audited_does_not_rotate_the_token(env: Env) -> None:
    client, tokens = await env.full_flow()
    refresh = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
               "client_id": client["client_id"]}  # fmt: skip
    rotated_before = len(audit_events(env, "refresh.rotated"))
    break_audit(env)
    async with deputy_client(env) as api:
        refused = await api.post("/token", data=refresh)
    assert refused.status_code == 500
    assert tokens["refresh_token"] not in refused.text and "access_token" not in refused.json()
    repair_audit(env)
    # The refused attempt consumed nothing: the same refresh token is still the live one (a consumed token would
    # count as reuse and revoke the family).
    again = await env.token(**refresh)
    assert again.status_code == 200, again.text
    assert len(audit_events(env, "refresh.rotated")) == rotated_before + 1
    assert check(env.ctx.store.db, env.ctx.keys).ok


async def test_a_tool_call_that_cannot_be_audited_returns_nothing(tmp_path: Path) -> None:
    """Tool-call events take SQLite's raw-driver path (``SqlStore.audit_only``): it must fail closed the same way."""
    env = make_mcp_env(tmp_path)
    async with env.app.router.lifespan_context(env.app):  # type: ignore[attr-defined]
        _, tokens = await env.full_flow(scope="crm.read")
        body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "contacts_list", "arguments": {}}}
        headers = {**MCP_HEADERS, "authorization": f"Bearer {tokens['access_token']}"}
        break_audit(env)
        async with deputy_client(env) as api:
            refused = await api.post("/mcp", content=json.dumps(body), headers=headers)
        assert "Alice" not in refused.text and "items" not in refused.text  # no tool result got out
        assert refused.status_code == 500 or "error" in refused.json()
        repair_audit(env)
        async with deputy_client(env) as api:
            served = await api.post("/mcp", content=json.dumps(body), headers=headers)
        assert served.status_code == 200 and served.json()["result"]["isError"] is False
        assert [e["detail"]["tool"] for e in audit_events(env, "tool.called")] == ["contacts_list"]
        assert check(env.ctx.store.db, env.ctx.keys).ok
