"""Helpers for broker tests: MCP tool calls through the real app, a config file for the CLI, raw vault rows."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import httpx

from support import DEPUTY, MCP_HEADERS, Env


async def call_tool(app: Any, token: str, name: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
    """One tools/call through the ASGI app; returns the JSON-RPC result (asserting HTTP 200)."""
    transport = httpx.ASGITransport(app=app, client=("198.51.100.7", 50000))
    async with httpx.AsyncClient(transport=transport, base_url=DEPUTY) as api:
        body = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": name, "arguments": arguments or {}},
        }
        r = await api.post(
            "/mcp", content=json.dumps(body), headers={**MCP_HEADERS, "authorization": f"Bearer {token}"}
        )
    assert r.status_code == 200, r.text[:300]
    result: dict[str, Any] = r.json()["result"]
    return result


def write_config(env: Env, path: Path) -> Path:
    """A TOML file equivalent to the env's settings, for ``deputy.cli.main``."""
    s = env.settings
    path.write_text(
        f"""
[server]
base_url = "{s.server.base_url}"
[storage]
url = "{s.storage.url}"
[keys]
file = "{s.keys.file}"
[upstream]
name = "{s.upstream.name}"
discovery_url = "{s.upstream.discovery_url}"
client_id = "{s.upstream.client_id}"
[scopes."crm.read"]
description = "Read"
[scopes."crm.write"]
description = "Write"
""",
        encoding="utf-8",
    )
    return path


def sqlite_path(env: Env) -> str:
    return env.settings.storage.url.removeprefix("sqlite:///")


def vault_rows(env: Env) -> list[tuple[str, str, str]]:
    """(user_id, purpose, key_id) of every row, quarantined ones included."""
    with sqlite3.connect(sqlite_path(env)) as db:
        return sorted(db.execute("SELECT user_id, purpose, key_id FROM upstream_credentials").fetchall())


def corrupt_row(env: Env, user_id: str, purpose: str) -> None:
    """Flip one bit of a stored ciphertext, as a disk or a careless operator might."""
    with sqlite3.connect(sqlite_path(env)) as db:
        (blob,) = db.execute(
            "SELECT ciphertext FROM upstream_credentials WHERE user_id = ? AND purpose = ?", (user_id, purpose)
        ).fetchone()
        flipped = bytes(blob[:-1]) + bytes([blob[-1] ^ 1])
        db.execute(
            "UPDATE upstream_credentials SET ciphertext = ? WHERE user_id = ? AND purpose = ?",
            (flipped, user_id, purpose),
        )
