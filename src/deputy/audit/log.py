"""One interface for audit events.

Events are written through the same transaction as the state change they describe, so an event that cannot be
written rolls the action back (fail closed, invariant 7). Details never carry a secret: callers pass identifiers,
hash prefixes and outcomes, and ``_check_detail`` refuses values that look like tokens.
"""

from __future__ import annotations

import re
from typing import Any, Protocol

__all__ = ["AuditWriter", "audit"]

_SECRETISH = re.compile(r"(eyJ[A-Za-z0-9_-]{10,}|dp[crs]_[A-Za-z0-9_-]{10,}|acme_[ar]t_)")


class AuditWriter(Protocol):
    def append(
        self, *, at: int, event: str, outcome: str, client_id: str | None, user_id: str | None, detail: dict[str, Any]
    ) -> None: ...


def _check_detail(detail: dict[str, Any]) -> dict[str, Any]:
    for key, value in detail.items():
        if isinstance(value, str) and _SECRETISH.search(value):
            raise ValueError(f"audit detail {key!r} looks like a credential")
    return detail


def audit(
    writer: AuditWriter,
    event: str,
    *,
    at: int,
    outcome: str = "ok",
    client_id: str | None = None,
    user_id: str | None = None,
    **detail: Any,
) -> None:
    """Append one event, e.g. ``audit(tx.audit, "consent.approved", at=now, client_id=…, user_id=…)``."""
    writer.append(
        at=at, event=event, outcome=outcome, client_id=client_id, user_id=user_id, detail=_check_detail(detail)
    )
