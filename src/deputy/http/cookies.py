"""Deputy's browser cookies. All are ``__Host-`` prefixed: Secure, Path=/, no Domain, so no sibling host or
insecure page can set or read them; HttpOnly; SameSite=Lax so a cross-site POST never carries them.

* ``__Host-deputy-csrf``: a per-browser random value; the consent form's token is bound to it (signed
  double-submit), so a forged cross-site POST fails even if the form token leaked.
* ``__Host-deputy-binding``: set ONLY in the response to an approval, immediately before the upstream redirect
  (MCP security best practices; invariant 4). The callback must present it: the browser that approved is the
  browser that finishes.
* ``__Host-deputy-session``: who the user is, after their first upstream sign-in.
"""

from __future__ import annotations

from typing import Final

from starlette.requests import Request
from starlette.responses import Response

__all__ = ["BINDING", "CSRF", "SESSION", "clear_cookie", "read_cookie", "set_cookie"]

CSRF: Final = "__Host-deputy-csrf"
BINDING: Final = "__Host-deputy-binding"
SESSION: Final = "__Host-deputy-session"
MAX_COOKIE_VALUE: Final = 256


def set_cookie(response: Response, name: str, value: str, *, max_age: int | None) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/", secure=True, httponly=True, samesite="lax")


def clear_cookie(response: Response, name: str) -> None:
    response.delete_cookie(name, path="/", secure=True, httponly=True, samesite="lax")


def read_cookie(request: Request, name: str) -> str | None:
    value = request.cookies.get(name)
    if not value or len(value) > MAX_COOKIE_VALUE:
        return None
    return value
