"""No upstream token or refresh token escapes the broker during a full demo run.

The demo (Deputy in front of Acme CRM, on loopback) runs a realistic session with the official MCP SDK client:
tool reads and writes, invalid arguments, a missing record, an upstream token that expires (the broker refreshes
and Acme rotates the refresh token), a Deputy refresh, probes that present an upstream token where a Deputy token
belongs, and finally an upstream grant revoked at Acme. Everything observable is captured: every log record of
every logger at DEBUG, the processes' stdout and stderr, every tool result and HTTP error body, every audit entry,
and the raw bytes of the SQLite database (upstream tokens are only stored encrypted). None of it may contain an
upstream secret: Acme's tokens and codes all carry a recognisable prefix, so a search for the prefixes finds any
of them, including ones this test never saw; the exact values Acme issued are searched for as well.
"""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import httpx2
import pytest
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client

from headless import obtain_tokens
from live import start_demo

pytestmark = pytest.mark.anyio

UPSTREAM_PREFIXES = ("acme_at_", "acme_rt_", "acme_ac_")


def _issued(store: object) -> set[str]:
    """Every Acme token, refresh token and code alive right now."""
    found: set[str] = set()
    for attr in ("_access", "_refresh", "_codes"):
        found.update(getattr(store, attr, {}).keys())
    return found


async def test_a_full_demo_session_leaks_no_upstream_secret(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    # The harness's own HTTP clients (the headless browser carries the upstream code in its URL, as every
    # browser does) log through httpx/httpcore; Deputy never puts a credential in a URL, so those are left out.
    for harness in ("httpx", "httpcore", "httpx2", "httpcore2"):
        caplog.set_level(logging.WARNING, logger=harness)
    caplog.set_level(logging.DEBUG)  # last: this also sets the capture handler's own level
    seen: list[str] = []  # everything a client or operator could observe
    issued: set[str] = set()
    with start_demo(tmp_path, log_level="debug") as demo:  # uvicorn access log on
        store = demo.acme_app.state.acme_store
        tokens = await obtain_tokens(demo.issuer)
        issued |= _issued(store)

        async def session(access_token: str) -> None:
            headers = {"Authorization": f"Bearer {access_token}"}
            async with (
                httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30.0)) as http,
                Client(streamable_http_client(demo.resource, http_client=http), mode="2026-07-28") as client,
            ):
                calls = [
                    ("contacts_list", {}),
                    ("contacts_search", {"q": "a"}),
                    ("contacts_create", {"name": "Leak Probe", "email": "probe@example.com"}),
                    ("contacts_get", {"id": "con_does_not_exist"}),
                    ("contacts_create", {"name": 42}),  # invalid arguments
                    ("deputy_whoami", {}),
                ]
                for name, args in calls:
                    result = await client.call_tool(name, args)
                    seen.append(repr(result))
                store.expire_access_tokens()  # the broker must refresh (Acme rotates the refresh token)
                issued.update(_issued(store))
                result = await client.call_tool("deals_list", {})
                assert not result.is_error, result.content
                seen.append(repr(result))
                issued.update(_issued(store))

        await session(tokens["access_token"])

        async with httpx.AsyncClient(timeout=30) as http:
            renewed = await http.post(
                demo.issuer + "/token",
                data={
                    "grant_type": "refresh_token",
                    "refresh_token": tokens["refresh_token"],
                    "client_id": tokens["client_id"],
                },
            )
            assert renewed.status_code == 200
            seen.append(renewed.text)
            upstream_token = next(t for t in _issued(store) if t.startswith("acme_at_"))
            upstream_refresh = next(t for t in _issued(store) if t.startswith("acme_rt_"))
            probes = [
                await http.post(
                    demo.resource,
                    json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                    headers={"Authorization": f"Bearer {upstream_token}", "Accept": "application/json"},
                ),
                await http.post(
                    demo.issuer + "/token",
                    data={
                        "grant_type": "refresh_token",
                        "refresh_token": upstream_refresh,
                        "client_id": tokens["client_id"],
                    },
                ),
                await http.post(demo.issuer + "/revoke", data={"token": upstream_token, "client_id": "x"}),
            ]
            assert probes[0].status_code == 401 and probes[1].status_code == 400
            seen.extend(f"{r.status_code} {r.headers} {r.text}" for r in probes)

        store.revoke_user_grants("acme-u-1001")  # Alice removes the app at Acme: the next refresh is refused
        store.expire_access_tokens()

        async def revoked_session(access_token: str) -> None:
            headers = {"Authorization": f"Bearer {access_token}"}
            async with (
                httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30.0)) as http,
                Client(streamable_http_client(demo.resource, http_client=http), mode="2026-07-28") as client,
            ):
                result = await client.call_tool("contacts_list", {})
                assert result.is_error
                seen.append(repr(result))

        await revoked_session(renewed.json()["access_token"])

        with demo.deputy_app.state.deps.ctx.store.read() as tx:
            audit_entries = tx.audit.events()
    out, err = capfd.readouterr()
    db_bytes = b"".join(p.read_bytes() for p in tmp_path.glob("*.db*"))

    assert len(issued) >= 4 and len(audit_entries) > 10 and len(caplog.records) > 10  # the capture saw a lot
    haystacks = {
        "log records": "\n".join(f"{r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records),
        "stdout/stderr": out + err,
        "tool results and HTTP bodies": "\n".join(seen),
        "audit entries": repr(audit_entries),
        "database file": db_bytes.decode("latin-1"),
    }
    for where, text in haystacks.items():
        for needle in (*UPSTREAM_PREFIXES, *issued):
            assert needle not in text, f"an upstream secret ({needle[:12]}…) appears in the {where}"
    # Positive controls: the access log was on and saw the callback (its code redacted); the search finds a
    # secret where one is put.
    assert any("/callback?code=…" in r.getMessage() for r in caplog.records if r.name == "uvicorn.access")
    assert any(p in f"x {upstream_token}" for p in UPSTREAM_PREFIXES)
