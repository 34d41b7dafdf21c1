"""Rendering: JSON for endpoints, Deputy's own HTML page for browser errors, and redirects only to validated URIs.

``AuthorizationRedirect`` is the only way an error reaches a client's redirect URI, and it can only be built after
``validate_client_and_redirect`` accepted that URI. Everything else is JSON or a local page. Public descriptions
come from the error; the private ``cause`` goes to the log, never to the response.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Final

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from deputy.errors import AuthorizationRedirect, BrowserFlowError, OAuthError, SlowDownError
from deputy.oauth.redirects import authorization_response_url

__all__ = ["NO_STORE", "PAGE_HEADERS", "json_error", "page_error", "redirect", "render_page", "templates"]

log = logging.getLogger("deputy.http")

NO_STORE: Final = {"Cache-Control": "no-store", "Pragma": "no-cache"}

# Every HTML page: no framing (RFC 9700 §4.16), no referrer leakage (§4.2), no third-party anything, no script.
PAGE_HEADERS: Final = {
    **NO_STORE,
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self' {form_action}; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}

templates: Final = Environment(
    loader=FileSystemLoader(Path(__file__).parent.parent / "consent" / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    auto_reload=False,
)


def page_headers(form_action: str = "") -> dict[str, str]:
    """Page headers; ``form_action`` widens CSP form-action for the one redirect a form POST may lead to."""
    headers = dict(PAGE_HEADERS)
    headers["Content-Security-Policy"] = (
        headers["Content-Security-Policy"].format(form_action=form_action).replace("  ", " ")
    )
    return headers


def render_page(name: str, *, status: int = 200, form_action: str = "", **context: object) -> HTMLResponse:
    html = templates.get_template(name).render(**context)
    return HTMLResponse(html, status_code=status, headers=page_headers(form_action))


def page_error(exc: BrowserFlowError, upstream_name: str) -> HTMLResponse:
    log.info("browser flow refused: %s (%s)", exc.title, exc.cause or "-")
    return render_page(
        "error.html", status=exc.status, title=exc.title, message=exc.message, upstream_name=upstream_name
    )


def json_error(exc: OAuthError) -> JSONResponse:
    log.info("oauth error %s: %s", exc.error, exc.cause or exc.description)
    headers = dict(NO_STORE)
    if exc.status == 401:
        headers["WWW-Authenticate"] = f'Basic realm="deputy", error="{exc.error}"'
    if isinstance(exc, SlowDownError):
        headers["Retry-After"] = str(exc.retry_after)
    return JSONResponse(exc.to_json(), status_code=exc.status, headers=headers)


def redirect(url: str, *, status: int = 302) -> RedirectResponse:
    return RedirectResponse(url, status_code=status, headers=NO_STORE)


def authorization_error_redirect(exc: AuthorizationRedirect, issuer: str) -> RedirectResponse:
    log.info("authorization error %s redirected to the client", exc.error.error)
    params: dict[str, str | None] = {"error": exc.error.error, "state": exc.state}
    if exc.error.description:
        params["error_description"] = exc.error.description
    return redirect(authorization_response_url(exc.redirect_uri, params, issuer=issuer))


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def ok_json(body: object, *, status: int = 200, cache: bool = False) -> Response:
    return JSONResponse(body, status_code=status, headers=None if cache else NO_STORE)
