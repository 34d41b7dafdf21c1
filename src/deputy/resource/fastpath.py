"""A lean path for the two hot requests: a single ``tools/call`` or ``tools/list`` in the stateless JSON mode.

The SDK's stateless transport builds a transport, a task, streams and a dispatcher for every request; for a single
request/response exchange that machinery costs several times the work itself. This path answers exactly those
requests directly, with the SDK's own types for parsing (``CallToolRequestParams``) and serialisation
(``CallToolResult``/``ListToolsResult`` dumped as the SDK dumps them), and hands *everything else* to the SDK
unchanged: other methods, notifications, batches, ``_meta``, the 2026-07-28 envelope, anything malformed (so the
SDK produces its own error), a wrong Host, Content-Type or Accept. ``tests/resource/test_fastpath.py`` checks
that both paths answer byte-for-byte alike (as parsed JSON) for the requests taken here.

Only requests that already passed the gate (``auth.py``) arrive here; the principal is in the scope.
"""

from __future__ import annotations

import json
from typing import Any

import mcp_types as types
from mcp_types.methods import serialize_server_result
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from pydantic import ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from deputy.resource.auth import PARSED_BODY, PRINCIPAL, parse_json
from deputy.resource.server import ToolHandlers
from deputy.resource.verifier import Principal

__all__ = ["FastPath"]

_METHODS = frozenset({"tools/call", "tools/list"})


def _headers(scope: Scope) -> dict[bytes, bytes]:
    return dict(scope.get("headers", []))


def _accepts_json(accept: str) -> bool:
    types_ = [part.split(";")[0].strip().lower() for part in accept.split(",")]
    return any(t in ("application/json", "application/*", "*/*") for t in types_)


def _dump(method: str, version: str, result: Any) -> dict[str, Any]:
    """As the SDK's runner does: dump, then sieve through the protocol version's result surface."""
    dumped: dict[str, Any] = result.model_dump(by_alias=True, mode="json", exclude_none=True)
    sieved: dict[str, Any] = serialize_server_result(method, version, dumped)
    return sieved


class FastPath:
    def __init__(self, sdk: ASGIApp, handlers: ToolHandlers, *, allowed_host: str) -> None:
        self.sdk = sdk
        self.handlers = handlers
        self.allowed_host = allowed_host.encode()
        listed = types.ListToolsResult(tools=handlers.tools)
        self._tools_list = {v: _dump("tools/list", v, listed) for v in HANDSHAKE_PROTOCOL_VERSIONS}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("method") == "GET":
            # Stateless: Deputy never sends server-initiated messages, so it offers no SSE stream, and says so
            # (streamable HTTP: 405 for a GET) instead of holding an idle connection open.
            await _json(
                send,
                {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "Method Not Allowed"}},
                status=405,
                extra=[(b"allow", b"POST")],
            )
            return
        if not self._eligible_headers(scope):
            await self.sdk(scope, receive, send)
            return
        parsed = scope.get(PARSED_BODY)
        if parsed is None:  # not through the gate (never in the product app): read and parse here
            body, receive = await _buffer(receive)
            message = self._eligible_message(parse_json(body))
        else:
            message = self._eligible_message(parsed[1])
        principal = scope.get(PRINCIPAL)
        if message is None or not isinstance(principal, Principal):
            await self.sdk(scope, receive, send)
            return
        version = _headers(scope)[b"mcp-protocol-version"].decode("latin-1")
        result = await self._answer(principal, message, version)
        if result is None:
            await self.sdk(scope, receive, send)
            return
        await _json(send, {"jsonrpc": "2.0", "id": message["id"], "result": result})

    def _eligible_headers(self, scope: Scope) -> bool:
        if scope.get("method") != "POST":
            return False
        h = _headers(scope)
        version = h.get(b"mcp-protocol-version", b"").decode("latin-1")
        ctype = h.get(b"content-type", b"").decode("latin-1").split(";")[0].strip().lower()
        return (
            version in HANDSHAKE_PROTOCOL_VERSIONS
            and ctype == "application/json"
            and _accepts_json(h.get(b"accept", b"").decode("latin-1"))
            and h.get(b"host") == self.allowed_host
            and b"mcp-session-id" not in h
        )

    @staticmethod
    def _eligible_message(message: object) -> dict[str, Any] | None:
        """The message, if the fast path may answer it. The gate's parsed object is shared, so it is only read."""
        if not isinstance(message, dict) or message.get("jsonrpc") != "2.0" or message.get("method") not in _METHODS:
            return None
        ident = message.get("id")
        if isinstance(ident, bool) or not isinstance(ident, str | int):
            return None
        params = message.get("params", {})
        if not isinstance(params, dict) or "_meta" in params or set(message) - {"jsonrpc", "id", "method", "params"}:
            return None
        return message

    async def _answer(self, principal: Principal, message: dict[str, Any], version: str) -> dict[str, Any] | None:
        params = message.get("params", {})
        if message["method"] == "tools/list":
            return self._tools_list[version] if not params else None
        if set(params) - {"name", "arguments"}:
            return None  # tasks, input responses and the like: the SDK's business
        try:
            call = types.CallToolRequestParams.model_validate(params)
        except ValidationError:
            return None  # the SDK answers invalid params with its own JSON-RPC error
        return _dump("tools/call", version, await self.handlers.call(principal, call.name, call.arguments or {}))


async def _buffer(receive: Receive) -> tuple[bytes, Receive]:
    """Read the whole body (the gate already bounded it) and return a receive that replays it."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay


async def _json(
    send: Send, payload: dict[str, Any], *, status: int = 200, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    data = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()), *(extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})
