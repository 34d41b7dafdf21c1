"""What the browser leg keeps about a browser: its Deputy session, and the binding of a form to its CSRF cookie.

The purposes name the keyed hashes stored for each browser secret (``KeyRing.keyed_hash`` domain separation), so
a value presented as one kind of secret can never match a hash stored for another.
"""

from __future__ import annotations

from typing import Final

from deputy.oauth.tokens import new_secret
from deputy.service.context import ServiceContext
from deputy.storage.sql.store import Tx

__all__ = ["BINDING", "CODE", "CSRF", "SESSION", "STATE", "csrf_binding", "new_session"]

CSRF: Final = "csrf"
BINDING: Final = "binding"
STATE: Final = "upstream-state"
SESSION: Final = "session"
CODE: Final = "code"


def csrf_binding(csrf_cookie: str, token: str) -> str:
    """Double-submit, signed: the stored hash covers the browser's cookie and the form token together."""
    return f"{csrf_cookie}|{token}"


def new_session(ctx: ServiceContext, tx: Tx, user_id: str, now: int) -> str:
    """Open a browser session for the user; returns the cookie value (only its keyed hash is stored)."""
    token = new_secret()
    expires_at = now + ctx.settings.lifetimes.browser_session
    tx.sessions.create(ctx.keys.keyed_hash(SESSION, token), user_id, now=now, expires_at=expires_at)
    return token
