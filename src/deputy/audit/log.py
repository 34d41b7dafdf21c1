"""One interface for audit events.

Events are written through the same transaction as the state change they describe, so an event that cannot be
written rolls the action back (fail closed, invariant 7). Details never carry a secret: callers pass identifiers,
hash prefixes and outcomes, and ``_scrub`` replaces anything that still looks like a token. It replaces rather than
refuses, because some details (a tool name) come from callers: a refusal there would let one caller make the
audit, and so other callers' actions, fail.
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


def _scrub(detail: dict[str, Any]) -> dict[str, Any]:
    return {k: _SECRETISH.sub("[redacted]", v) if isinstance(v, str) else v for k, v in detail.items()}


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
    writer.append(at=at, event=event, outcome=outcome, client_id=client_id, user_id=user_id, detail=_scrub(detail))
