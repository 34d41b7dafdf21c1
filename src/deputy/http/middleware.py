"""Pure ASGI middleware: a request-body limit and baseline security headers on every response."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BodyLimitMiddleware", "SecurityHeadersMiddleware"]

_BASELINE = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in _BASELINE if k not in present]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyLimitMiddleware:
    """Refuse bodies over ``limit`` bytes with 413 before the endpoint parses anything.

    Browser endpoints (``html_paths``: exact paths, or prefixes ending in ``/``) get a small HTML page, everything
    else an OAuth-style JSON error.
    """

    def __init__(self, app: ASGIApp, limit: int, html_paths: frozenset[str] = frozenset()) -> None:
        self.app = app
        self.limit = limit
        self.html_paths = html_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        path = str(scope.get("path", ""))
        html = path in self.html_paths or any(p.endswith("/") and path.startswith(p) for p in self.html_paths)
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await _too_large(send, html=html)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _TooLarge:
            await _too_large(send, html=html)


class _TooLarge(Exception):
    pass


_HTML_TOO_LARGE = (
    b"<!doctype html><html lang=en><head><meta charset=utf-8><title>Request too large</title></head>"
    b"<body><h1>Request too large</h1><p>Nothing was shared. Start again from the application.</p></body></html>"
)


async def _too_large(send: Send, *, html: bool = False) -> None:
    if html:
        body, ctype = _HTML_TOO_LARGE, b"text/html; charset=utf-8"
    else:
        body, ctype = b'{"error":"invalid_request","error_description":"request body too large"}', b"application/json"
    headers = [(b"content-type", ctype), (b"content-length", str(len(body)).encode()), (b"cache-control", b"no-store")]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})
