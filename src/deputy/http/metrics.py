"""GET /metrics: the Prometheus exposition of ``deputy.metrics.REGISTRY``, never public by default.

Metrics reveal traffic and refusal patterns (how many consents are denied, which grants fail), so they are served
only to a scraper that proves itself: with ``server.metrics_token`` set, by ``Authorization: Bearer <token>``
(compared in constant time); without it, only to a loopback client whose request carries no forwarding header. The
second condition matters behind a reverse proxy on the same host: every proxied request arrives from loopback, but
a proxy adds ``X-Forwarded-For`` (or ``Forwarded``), so a request from the internet is still refused.
"""

from __future__ import annotations

import hmac
import ipaddress
from typing import Final

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import SecretStr
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from deputy.http.deps import deps_of
from deputy.metrics import REGISTRY

__all__ = ["metrics"]

_NO_STORE: Final = {"Cache-Control": "no-store"}
_FORWARDING: Final = ("forwarded", "x-forwarded-for", "x-real-ip")


async def metrics(request: Request) -> Response:
    refusal = _refusal(request, deps_of(request).ctx.settings.server.metrics_token)
    if refusal is not None:
        return refusal
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST, headers=_NO_STORE)


def _refusal(request: Request, token: SecretStr | None) -> Response | None:
    if token is not None:
        if _bearer_matches(request.headers.get("authorization"), token):
            return None
        body = {"error": "invalid_token", "error_description": "metrics require the configured bearer token"}
        headers = {**_NO_STORE, "WWW-Authenticate": 'Bearer realm="metrics"'}
        return JSONResponse(body, status_code=401, headers=headers)
    if _is_loopback(request.client.host if request.client else None) and not _forwarded(request.headers):
        return None
    body = {
        "error": "access_denied",
        "error_description": "metrics are served to loopback clients only unless server.metrics_token is set",
    }
    return JSONResponse(body, status_code=403, headers=_NO_STORE)


def _bearer_matches(header: str | None, token: SecretStr) -> bool:
    scheme, _, presented = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not presented:
        return False
    # Both sides as bytes: compare_digest refuses non-ASCII str, and a header is whatever the client sent.
    return hmac.compare_digest(presented.strip().encode(), token.get_secret_value().encode())


def _is_loopback(host: str | None) -> bool:
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _forwarded(headers: Headers) -> bool:
    return any(name in headers for name in _FORWARDING)
