"""The Acme CRM scope vocabulary, kept in one place so the consent page, the token endpoint and the OpenAPI
document can never disagree about what a scope means."""

from __future__ import annotations

from collections.abc import Iterable

SCOPE_DESCRIPTIONS: dict[str, str] = {
    "profile": "See your name and email address",
    "contacts:read": "Read your contacts",
    "contacts:write": "Create and change your contacts",
    "deals:read": "Read your deals",
    "deals:write": "Create and change your deals",
    "notes:read": "Read your notes",
    "notes:write": "Create and change your notes",
}

SCOPES: tuple[str, ...] = tuple(SCOPE_DESCRIPTIONS)

DEFAULT_SCOPE: frozenset[str] = frozenset({"profile"})


class UnknownScopeError(ValueError):
    """A requested scope is not in the vocabulary; callers turn this into ``invalid_scope``."""


def parse_scope(raw: str | None) -> frozenset[str]:
    """Split an RFC 6749 §3.3 scope string; an absent or blank scope means the documented default."""
    if raw is None or not raw.strip():
        return DEFAULT_SCOPE
    requested = frozenset(raw.split())
    unknown = requested.difference(SCOPES)
    if unknown:
        raise UnknownScopeError(f"unknown scope: {sorted(unknown)[0][:64]}")
    return requested


def format_scope(scopes: Iterable[str]) -> str:
    """Render scopes in the canonical vocabulary order so responses are stable and comparable."""
    granted = set(scopes)
    return " ".join(scope for scope in SCOPES if scope in granted)
