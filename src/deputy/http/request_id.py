"""Pure ASGI middleware: a request id for every HTTP request, echoed as ``X-Request-Id``, plus HTTP metrics.

A well-formed incoming ``X-Request-Id`` (set by a load balancer, or by a client correlating its own logs) is kept,
so one id follows a request across the proxy, Deputy's log lines and its audit entries; anything else is replaced
by a fresh random id. The id is bound in ``deputy.audit.context`` for the duration of the request, which is how
audit entries and log lines written anywhere below pick it up without being passed it.

The middleware is the outermost one, so it also measures each request for ``deputy.metrics``, labelled with the
route template Starlette matched (``scope["route"]``), never the raw path.
"""

from __future__ import annotations

import re
import secrets
import time
from typing import Final

from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from deputy.audit.context import bind_request_id
from deputy.metrics import observe_http_request

__all__ = ["HEADER", "SCOPE_KEY", "RequestIdMiddleware", "accept_request_id"]

HEADER: Final = b"x-request-id"
SCOPE_KEY: Final = "deputy.request_id"  # where the id is also left in the scope, for handlers outside this one

_WELL_FORMED = re.compile(r"[A-Za-z0-9._-]{1,64}")


def accept_request_id(value: bytes | None) -> str:
    """The incoming id if it is 1–64 characters of ``[A-Za-z0-9._-]``, else a fresh one (16 hex digits)."""
    if value is not None:
        text = value.decode("latin-1")
        if _WELL_FORMED.fullmatch(text):
            return text
    return secrets.token_hex(8)


def _route_template(scope: Scope) -> str | None:
    route = scope.get("route")
    path = getattr(route, "path", None) if isinstance(route, BaseRoute) else None
    return path if isinstance(path, str) else None


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = next((v for k, v in scope.get("headers", []) if k == HEADER), None)
        request_id = accept_request_id(incoming)
        scope[SCOPE_KEY] = request_id
        header = (HEADER, request_id.encode("ascii"))
        status = 500  # what the client gets if the app raises before it starts a response
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != HEADER]
                message["headers"] = [*headers, header]
            await send(message)

        try:
            with bind_request_id(request_id):
                await self.app(scope, receive, send_with_id)
        finally:
            observe_http_request(_route_template(scope), scope["method"], status, time.perf_counter() - started)
