"""Helpers for the intent tests: MCP calls through the in-process app, the confirmation page as a browser uses
it, and a snapshot of a user's records at Acme CRM (to prove nothing changed upstream)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import httpx

from support import DEPUTY, MCP_HEADERS, Env, hidden

SAME_ORIGIN = {"origin": DEPUTY, "sec-fetch-site": "same-origin"}


async def call_tool(env: Env, token: str, name: str, arguments: dict[str, Any], ident: int = 1) -> dict[str, Any]:
    """One ``tools/call``; returns the JSON-RPC ``result`` (the test fails on a JSON-RPC error)."""
    body = {"jsonrpc": "2.0", "id": ident, "method": "tools/call", "params": {"name": name, "arguments": arguments}}
    async with env.api() as api:
        r = await api.post(
            "/mcp", content=json.dumps(body), headers={**MCP_HEADERS, "authorization": f"Bearer {token}"}
        )
    assert r.status_code == 200, r.text
    payload = r.json()
    assert "result" in payload, payload
    result: dict[str, Any] = payload["result"]
    return result


def structured(result: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = result["structuredContent"]
    return data


def confirm_path(result: dict[str, Any]) -> str:
    """The confirmation URL of a draft result, as a path on Deputy."""
    data = structured(result)
    assert data["status"] == "confirmation_required", data
    url = str(data["confirmation_url"])
    assert url.startswith(DEPUTY + "/confirm/")
    return urlsplit(url).path


async def open_page(browser: httpx.AsyncClient, path: str) -> httpx.Response:
    return await browser.get(path)


async def decide(
    browser: httpx.AsyncClient, path: str, action: str = "approve", headers: dict[str, str] | None = None
) -> httpx.Response:
    """What a user does: open the page, then press a button (the form carries the page's CSRF token)."""
    page = await browser.get(path)
    assert page.status_code == 200, page.text
    form = {"csrf_token": hidden(page.text, "csrf_token"), "action": action}
    return await browser.post(path, data=form, headers=SAME_ORIGIN if headers is None else headers)


def acme_records(env: Env, username: str = "alice") -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """Every record the user owns at Acme, by resource: what "nothing changed upstream" is checked against."""
    store = env.acme_app.state.acme_store
    owner = next(u.user_id for u in env.acme_settings.users if u.username == username)
    return {
        resource: [(r.id, dict(r.fields)) for r in store.records.page(resource, owner, 0, 10_000).items]
        for resource in ("contacts", "deals", "notes")
    }


def events(env: Env, prefix: str = "intent.") -> list[dict[str, Any]]:
    with env.ctx.store.read() as tx:
        return [e for e in tx.audit.events() if e["event"].startswith(prefix)]
