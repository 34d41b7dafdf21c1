"""The fast path answers exactly as the SDK would, and leaves everything it does not fully understand to the SDK."""

from __future__ import annotations

import json
from typing import Any

import pytest

from deputy.resource.fastpath import FastPath
from support import MCP_HEADERS, Env

pytestmark = pytest.mark.anyio


@pytest.fixture
def env(mcp_env: Env) -> Env:
    return mcp_env


async def _post(env: Env, token: str, body: object, **headers: str) -> tuple[int, Any]:
    async with env.api() as api:
        r = await api.post(
            "/mcp", content=json.dumps(body), headers={**MCP_HEADERS, "authorization": f"Bearer {token}", **headers}
        )
    return r.status_code, (r.json() if r.content else None)


REQUESTS: list[dict[str, Any]] = [
    {"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
    {"jsonrpc": "2.0", "id": "a", "method": "tools/call", "params": {"name": "deputy_whoami", "arguments": {}}},
    {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "deputy_whoami"}},
    {
        "jsonrpc": "2.0",
        "id": 3,
        "method": "tools/call",
        "params": {"name": "contacts_get", "arguments": {"id": "con_1001"}},
    },
    {"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": "contacts_get", "arguments": {"id": 7}}},
    {"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"name": "no_such_tool", "arguments": {}}},
    {
        "jsonrpc": "2.0",
        "id": 6,
        "method": "tools/call",
        "params": {"name": "contacts_get", "arguments": {"id": "none"}},
    },
]


@pytest.mark.parametrize("body", REQUESTS, ids=lambda b: f"{b['method']}-{b['id']}")
async def test_fast_path_and_sdk_answer_alike(env: Env, body: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    _, tokens = await env.full_flow()
    fast = await _post(env, tokens["access_token"], body)
    monkeypatch.setattr(FastPath, "_eligible_headers", lambda self, scope: False)
    sdk = await _post(env, tokens["access_token"], body)
    assert fast == sdk
    assert fast[0] == 200


async def test_fast_path_is_taken_for_a_plain_tool_call(env: Env) -> None:
    _, tokens = await env.full_flow()
    fast: FastPath = env.app.state.mcp.gate.app  # type: ignore[attr-defined]
    sdk_app, calls = fast.sdk, []

    async def sdk_spy(scope: Any, receive: Any, send: Any) -> None:
        calls.append(scope["path"])
        await sdk_app(scope, receive, send)

    fast.sdk = sdk_spy
    await _post(env, tokens["access_token"], REQUESTS[1])
    assert calls == []
    await _post(env, tokens["access_token"], {"jsonrpc": "2.0", "id": 9, "method": "ping"})
    assert calls == ["/mcp"]


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        ({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"arguments": {}}}, {}),
        ({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "deputy_whoami", "_meta": {}}}, {}),
        ([{"jsonrpc": "2.0", "id": 1, "method": "tools/list"}], {}),
        ({"jsonrpc": "2.0", "method": "notifications/initialized"}, {}),
        ({"jsonrpc": "2.0", "id": 1, "method": "ping"}, {}),
        ({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, {"mcp-protocol-version": "2026-07-28"}),
        ({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, {"accept": "text/html"}),
        ({"jsonrpc": "2.0", "id": True, "method": "tools/list"}, {}),
    ],
)
async def test_anything_else_goes_to_the_sdk(
    env: Env, body: object, headers: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, tokens = await env.full_flow()
    fast = await _post(env, tokens["access_token"], body, **headers)
    monkeypatch.setattr(FastPath, "_eligible_headers", lambda self, scope: False)
    sdk = await _post(env, tokens["access_token"], body, **headers)
    assert fast == sdk
