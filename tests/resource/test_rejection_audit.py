"""Rejected bearer tokens reach the audit log as periodic per-cause summaries, never one entry per request and never
with the token."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from support import DEPUTY, MCP_HEADERS, Env, make_mcp_env

pytestmark = pytest.mark.anyio

BODY = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})


async def _post(env: Env, headers: dict[str, str]) -> httpx.Response:
    transport = httpx.ASGITransport(app=env.app, client=("198.51.100.7", 50000))
    async with httpx.AsyncClient(transport=transport, base_url=DEPUTY) as api:
        return await api.post("/mcp", content=BODY, headers={**MCP_HEADERS, **headers})


async def test_rejected_tokens_are_summarised_by_cause(tmp_path: Path) -> None:
    env = make_mcp_env(tmp_path)
    async with env.app.router.lifespan_context(env.app):  # type: ignore[attr-defined]
        _, tokens = await env.full_flow(scope="crm.read")
        garbage = "eyJ" + "A" * 40 + ".e30.sig"
        for token in (garbage, garbage, tokens["access_token"] + "x"):
            assert (await _post(env, {"authorization": f"Bearer {token}"})).status_code == 401
        assert (await _post(env, {})).status_code == 401  # no token: discovery, not counted
        env.clock.advance(3600)
        assert (await _post(env, {"authorization": f"Bearer {tokens['access_token']}"})).status_code == 401
        await env.app.state.mcp.rejections.flush()  # type: ignore[attr-defined]
        await env.app.state.mcp.rejections.flush()  # nothing new: no second entry  # type: ignore[attr-defined]
        with env.ctx.store.read() as tx:
            entries = tx.audit.events("token.rejected")
    (entry,) = entries
    assert entry["outcome"] == "refused" and entry["detail"]["total"] == 4
    causes = entry["detail"]["causes"]
    assert sum(n for c, n in causes.items() if c.startswith("exp")) == 1 and sum(causes.values()) == 4
    assert tokens["access_token"][:20] not in json.dumps(entries) and "AAAAAAAA" not in json.dumps(entries)


async def test_a_summary_is_written_at_shutdown(tmp_path: Path) -> None:
    env = make_mcp_env(tmp_path)
    async with env.app.router.lifespan_context(env.app):  # type: ignore[attr-defined]
        assert (await _post(env, {"authorization": "Bearer not-a-token"})).status_code == 401
    with env.ctx.store.db.engine.connect() as conn:
        count = conn.exec_driver_sql("SELECT count(*) FROM audit_events WHERE event = 'token.rejected'").scalar_one()
    assert count == 1
