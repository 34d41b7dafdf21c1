"""How long a fetched document may be reused: its ``Cache-Control`` (RFC 9111 §5.2.2), within Deputy's bounds.

Decisions, stated once:

* ``no-store`` and ``no-cache`` mean "not kept at all": Deputy does not revalidate, it fetches again.
* ``max-age`` is honoured up to the operator's cap (at most seven days).
* Without ``max-age`` the document is kept for :data:`DEFAULT_SECONDS`, so a host that sends no caching headers
  is not fetched on every request, yet a changed document is seen within minutes. ``Expires`` and heuristic
  freshness are not used.
* A header Deputy cannot fully parse counts as ``no-store``: when in doubt, fetch again.
* Only successful fetches are ever kept; errors are never cached (the caller's job).
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["DEFAULT_SECONDS", "MAX_SECONDS", "cache_seconds"]

DEFAULT_SECONDS: Final = 300
MAX_SECONDS: Final = 7 * 86400
_DELTA_RE: Final = re.compile(r"[0-9]+")
_DELTA_MAX: Final = 2**31  # RFC 9111 §1.2.2: larger values are taken as this
_DIRECTIVE_RE: Final = re.compile(r"\s*([A-Za-z-]+)\s*(?:=\s*(\"?)([^\",]*)\2)?\s*")


def cache_seconds(header: str | None, *, cap: int = MAX_SECONDS) -> int:
    """Seconds a response with this ``Cache-Control`` value may be reused; ``0`` means not at all."""
    directives = _directives(header or "")
    if directives is None or "no-store" in directives or "no-cache" in directives:
        return 0
    max_age = directives.get("max-age")
    seconds = DEFAULT_SECONDS if max_age is None else _delta_seconds(max_age)
    return max(0, min(seconds, cap, MAX_SECONDS))


def _directives(header: str) -> dict[str, str] | None:
    """Directive names (lower-cased) to their values, a repeated directive keeping its first value; ``None`` when
    part of the header is not a directive."""
    found: dict[str, str] = {}
    for part in header.split(","):
        if not part.strip():
            continue
        match = _DIRECTIVE_RE.fullmatch(part)
        if match is None:
            return None
        found.setdefault(match.group(1).lower(), match.group(3) or "")
    return found


def _delta_seconds(value: str) -> int:
    """RFC 9111 §1.2.2 delta-seconds; anything else is treated as already stale."""
    if not _DELTA_RE.fullmatch(value):
        return 0
    return _DELTA_MAX if len(value) > len(str(_DELTA_MAX)) else min(int(value), _DELTA_MAX)
