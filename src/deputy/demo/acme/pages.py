"""Server-rendered HTML for the browser leg of the flow, with headers that keep it out of frames and caches.

The consent page is the one place a user can notice who is asking for access, so it must not be frameable
(clickjacking) and it runs no script at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

import jinja2
from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from .authorize import AuthorizationRequest
from .grants import Session
from .scopes import SCOPE_DESCRIPTIONS, SCOPES
from .settings import AcmeUser

HTML_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

_TEMPLATE_DIR = Path(__file__).parent / "templates"


class Pages:
    def __init__(self) -> None:
        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(_TEMPLATE_DIR),
            autoescape=jinja2.select_autoescape(default=True),
            undefined=jinja2.StrictUndefined,
        )
        self._templates = Jinja2Templates(env=env)

    def login(
        self, request: Request, return_to: str, client_name: str | None, error: str | None = None, status: int = 200
    ) -> Response:
        context = {"return_to": return_to, "client_name": client_name, "error": error}
        return self._render(request, "login.html", context, status)

    def consent(self, request: Request, auth: AuthorizationRequest, user: AcmeUser, session: Session) -> Response:
        context = {
            "client_name": auth.client.name,
            "user_name": user.name,
            "user_email": user.email,
            "scopes": [(scope, SCOPE_DESCRIPTIONS[scope]) for scope in SCOPES if scope in auth.scopes],
            "redirect_origin": _origin(auth.redirect_uri),
            "csrf_token": session.csrf_token,
            "request_query": auth.query,
        }
        return self._render(request, "consent.html", context, 200)

    def message(self, request: Request, title: str, message: str, status: int = 200) -> Response:
        context = {"title": title, "message": message, "is_error": status >= 400}
        return self._render(request, "message.html", context, status)

    def _render(self, request: Request, name: str, context: Mapping[str, object], status: int) -> Response:
        return self._templates.TemplateResponse(request, name, dict(context), status_code=status, headers=HTML_HEADERS)


def _origin(uri: str) -> str:
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc}"
