"""Scopes (RFC 6749 §3.3): parsing, validation against Deputy's configured scopes, and narrowing."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Final

from deputy.errors import InvalidScopeError

__all__ = ["format_scope", "parse_scope", "upstream_scopes_for", "validate_narrowing", "validate_requested"]

_TOKEN: Final = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")
MAX_SCOPE_LENGTH: Final = 1024


def parse_scope(raw: str | None) -> tuple[str, ...]:
    """Space-delimited scope string to an ordered, de-duplicated tuple.

    Raises:
        InvalidScopeError: a token outside the RFC 6749 §3.3 grammar, or an absurdly long string.
    """
    if raw is None or raw.strip() == "":
        return ()
    if len(raw) > MAX_SCOPE_LENGTH:
        raise InvalidScopeError("scope is too long")
    out: list[str] = []
    for token in raw.split(" "):
        if token == "":
            continue
        if not _TOKEN.fullmatch(token):
            raise InvalidScopeError("scope contains an invalid token")
        if token not in out:
            out.append(token)
    return tuple(out)


def format_scope(scopes: Iterable[str]) -> str:
    return " ".join(scopes)


def validate_requested(
    requested: Sequence[str], *, known: Iterable[str], defaults: Sequence[str], client_allowed: Sequence[str] | None
) -> tuple[str, ...]:
    """Scopes for a new grant: the request, or the defaults when it names none; ``offline_access`` is implied.

    ``offline_access`` is accepted and dropped: Deputy decides refresh-token issuance by grant type, and the MCP
    spec says clients should not need to ask for it.

    Raises:
        InvalidScopeError: a scope Deputy does not offer, or one outside what this client registered for.
    """
    wanted = tuple(s for s in requested if s != "offline_access")
    allowed = set(client_allowed) if client_allowed is not None else None
    if not wanted:
        wanted = tuple(s for s in defaults if allowed is None or s in allowed)
    known_set = set(known)
    if any(s not in known_set for s in wanted):
        raise InvalidScopeError("unknown scope requested")
    if allowed is not None and any(s not in allowed for s in wanted):
        raise InvalidScopeError("scope not allowed for this client")
    if not wanted:
        raise InvalidScopeError("no scope left to grant")
    return wanted


def validate_narrowing(requested: Sequence[str], granted: Sequence[str]) -> tuple[str, ...]:
    """Refresh (RFC 6749 §6): the new scope may only be equal to or narrower than the grant's.

    Raises:
        InvalidScopeError: a scope outside the original grant.
    """
    if not requested:
        return tuple(granted)
    wanted = tuple(s for s in requested if s != "offline_access")
    if not wanted or any(s not in granted for s in wanted):
        raise InvalidScopeError("refresh may not widen the scope")
    return wanted


def upstream_scopes_for(
    scopes: Sequence[str], mapping: Mapping[str, Sequence[str]], base: Sequence[str]
) -> tuple[str, ...]:
    """The exact upstream scopes a grant needs: the identity scopes plus each Deputy scope's upstream scopes."""
    out: list[str] = []
    for item in [*base, *(u for s in scopes for u in mapping.get(s, ()))]:
        if item not in out:
            out.append(item)
    return tuple(out)
