"""The two browser cookies Acme sets.

``acme_session`` is the login. ``acme_consent`` is the long-lived "remember this decision" cookie: with it, a
second authorization for an already-approved client is answered with a code straight away and the user sees
nothing. That convenience is what lets an attacker ride a victim's earlier consent through a confused deputy.
Both are HttpOnly and SameSite=Lax (top-level navigations still carry them) and not Secure, because the demo
runs on plain-HTTP loopback.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

SESSION_COOKIE = "acme_session"
CONSENT_COOKIE = "acme_consent"


def session_id(request: Request) -> str | None:
    return request.cookies.get(SESSION_COOKIE)


def device_id(request: Request) -> str | None:
    return request.cookies.get(CONSENT_COOKIE)


def set_session(response: Response, value: str) -> None:
    response.set_cookie(SESSION_COOKIE, value, path="/", httponly=True, samesite="lax", secure=False)


def clear_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")


def set_consent(response: Response, value: str, max_age: int) -> None:
    response.set_cookie(CONSENT_COOKIE, value, max_age=max_age, path="/", httponly=True, samesite="lax", secure=False)
