"""The gate in front of the MCP endpoint (pure ASGI): bearer token, Origin, and per-tool scope.

Order matters: a token in the query string is refused before anything else (RFC 9700 §2.2, MCP "Token
Requirements"), a foreign ``Origin`` gets 403 (MCP transport: DNS rebinding), then the bearer token must verify.
For ``tools/call`` the JSON-RPC body is read (bounded) to learn the tool, so an insufficient scope is an HTTP 403
with one challenge naming every scope the call needs, as the MCP spec asks; the body is then replayed to the SDK.
The client's token is never forwarded anywhere: it stops here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Final
from urllib.parse import parse_qsl, urlsplit

from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from deputy.errors import InvalidTokenError
from deputy.resource.metadata import www_authenticate
from deputy.resource.verifier import Principal, TokenVerifier

__all__ = ["PRINCIPAL", "McpAuthMiddleware"]

PRINCIPAL = "deputy.principal"
PARSED_BODY = "deputy.parsed_body"  # (raw body, parsed JSON or NOT_JSON), set by the gate for POSTs
NOT_JSON: Final = object()


def parse_json(body: bytes) -> object:
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return NOT_JSON


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


class McpAuthMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        verifier: TokenVerifier,
        resource: str,
        issuer: str,
        challenge_scopes: Sequence[str],
        tool_scope: Callable[[str], str | None],
        max_body: int,
        allowed_origins: Sequence[str] = (),
        on_rejected: Callable[[str], None] | None = None,
    ) -> None:
        self.app = app
        self.on_rejected = on_rejected or (lambda cause: None)
        self.verifier = verifier
        self.resource = resource
        self.challenge_scopes = tuple(challenge_scopes)
        self.tool_scope = tool_scope
        self.max_body = max_body
        self.issuer = issuer
        own = urlsplit(issuer)
        self.origins = frozenset({f"{own.scheme}://{own.netloc}", *allowed_origins})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if any(k == "access_token" for k, _ in parse_qsl(scope.get("query_string", b"").decode("latin-1"))):
            await self._refuse(
                send, 401, "invalid_request", "access tokens are accepted only in the Authorization header"
            )
            return
        origin = _header(scope, b"origin")
        if origin is not None and origin not in self.origins:
            await _json(send, 403, {"error": "forbidden", "error_description": "origin not allowed"})
            return
        principal = await self._authenticate(scope, send)
        if principal is None:
            return
        replayed = await self._check_tool_scope(scope, receive, send, principal)
        if replayed is None:
            return
        scope[PRINCIPAL] = principal
        scope["user"] = AuthenticatedUser(
            AccessToken(
                token="-",
                client_id=principal.client_id,
                scopes=sorted(principal.scopes),
                expires_at=principal.expires_at,
                resource=self.resource,
                subject=principal.user_id,
                claims={"iss": self.issuer},
            )
        )
        await self.app(scope, replayed, send)

    async def _authenticate(self, scope: Scope, send: Send) -> Principal | None:
        header = _header(scope, b"authorization")
        if header is None or header[:7].lower() != "bearer " or not header[7:].strip():
            await self._refuse(send, 401, None, None)  # no token at all: discovery, not a refusal worth auditing
            return None
        try:
            return await self.verifier.verify(header[7:].strip())
        except InvalidTokenError as exc:
            self.on_rejected(exc.cause or "invalid")
            await self._refuse(send, 401, "invalid_token", exc.description or "access token is invalid")
            return None

    async def _check_tool_scope(
        self, scope: Scope, receive: Receive, send: Send, principal: Principal
    ) -> Receive | None:
        if scope.get("method") != "POST":
            return receive
        body = await _read_body(receive, self.max_body)
        if body is None:
            await _json(send, 413, {"error": "invalid_request", "error_description": "request body too large"})
            return None
        parsed = parse_json(body)
        scope[PARSED_BODY] = (body, parsed)  # the fast path reuses it: one read and one parse per request
        needed = self._scopes_needed(parsed)
        if needed and not needed <= principal.scopes:
            all_needed = sorted(needed | principal.scopes)
            await self._refuse(send, 403, "insufficient_scope", "this call needs more scope", scopes=all_needed)
            return None
        return _replay(body, receive)

    def _scopes_needed(self, message: object) -> frozenset[str]:
        if message is NOT_JSON:
            return frozenset()  # malformed JSON-RPC is the SDK's to answer
        messages = message if isinstance(message, list) else [message]
        needed: set[str] = set()
        for m in messages:
            if isinstance(m, Mapping) and m.get("method") == "tools/call" and isinstance(m.get("params"), Mapping):
                name = m["params"].get("name")
                scope = self.tool_scope(name) if isinstance(name, str) else None
                if scope:
                    needed.add(scope)
        return frozenset(needed)

    async def _refuse(
        self,
        send: Send,
        status: int,
        error: str | None,
        description: str | None,
        *,
        scopes: Sequence[str] | None = None,
    ) -> None:
        challenge = www_authenticate(
            self.resource, scopes if scopes is not None else self.challenge_scopes, error=error, description=description
        )
        body = {"error": error or "invalid_token", "error_description": description or "authorization required"}
        await _json(send, status, body, extra=[(b"www-authenticate", challenge.encode())])


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, original: Receive) -> Receive:
    """Hand the buffered body to the app once; later calls wait on the real channel (for the disconnect)."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await original()

    return receive


async def _json(send: Send, status: int, body: object, *, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    payload = json.dumps(body).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        (b"cache-control", b"no-store"),
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
