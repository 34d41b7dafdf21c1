"""The records the authorization server keeps about sessions, codes and tokens.

They are plain frozen values: the store replaces them instead of mutating them, so a value handed to an
endpoint can never change underneath it while another request holds the lock.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Session:
    """A browser login at Acme; ``csrf_token`` binds the consent form to this session."""

    session_id: str
    user_id: str
    csrf_token: str
    expires_at: int


@dataclass(frozen=True)
class AuthorizationCode:
    """Everything the token endpoint must check again when the code comes back (RFC 6749 §4.1.3)."""

    code: str
    client_id: str
    redirect_uri: str
    scopes: frozenset[str]
    user_id: str
    code_challenge: str | None
    expires_at: int
    grant_id: str


@dataclass(frozen=True)
class AccessToken:
    token: str
    client_id: str
    user_id: str
    scopes: frozenset[str]
    expires_at: int
    grant_id: str


@dataclass(frozen=True)
class RefreshToken:
    """``rotated`` tombstones stay behind so a replayed refresh token can be recognised as theft."""

    token: str
    client_id: str
    user_id: str
    scopes: frozenset[str]
    grant_id: str
    rotated: bool = False


@dataclass(frozen=True)
class TokenPair:
    access: AccessToken
    refresh: RefreshToken


class GrantError(Exception):
    """A grant cannot be used; the message is safe to show the client as ``error_description``."""


class ScopeEscalationError(GrantError):
    """A refresh asked for more than the original grant; maps to ``invalid_scope``."""
