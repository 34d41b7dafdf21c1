"""One interface for audit events.

Events are written through the same transaction as the state change they describe, so an event that cannot be
written rolls the action back (fail closed, invariant 7). Details never carry a secret: callers pass identifiers,
hash prefixes and outcomes, and ``_scrub`` replaces anything that still looks like a token. It replaces rather than
refuses, because some details (a tool name) come from callers: a refusal there would let one caller make the
audit, and so other callers' actions, fail. For the same reason a request id (which a client may choose) is
scrubbed and cut to the column's width rather than refused.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from typing import Any, Final, Protocol

from deputy.audit.context import current_request_id

__all__ = ["OBSERVERS", "REQUEST_ID_MAX", "AuditWriter", "audit"]

REQUEST_ID_MAX: Final = 128

# Told ``(event, outcome, detail)`` after each append (``deputy.metrics`` counts events); an observer that fails is
# ignored, so metrics can never fail the action being audited.
OBSERVERS: Final[list[Callable[[str, str, dict[str, Any]], None]]] = []

_SECRETISH = re.compile(r"(eyJ[A-Za-z0-9_-]{10,}|dp[crs]_[A-Za-z0-9_-]{10,}|acme_[ar]t_)")


class AuditWriter(Protocol):
    def append(
        self,
        *,
        at: int,
        event: str,
        outcome: str,
        client_id: str | None,
        user_id: str | None,
        detail: dict[str, Any],
        request_id: str | None = None,
    ) -> None: ...


def _clean(value: str) -> str:
    if not value.isascii():  # a lone surrogate cannot be stored (or MACed) as UTF-8
        value = value.encode("utf-8", "replace").decode("utf-8")
    return _SECRETISH.sub("[redacted]", value)


def _scrub(detail: dict[str, Any]) -> dict[str, Any]:
    return {k: _clean(v) if isinstance(v, str) else v for k, v in detail.items()}


def audit(
    writer: AuditWriter,
    event: str,
    *,
    at: int,
    outcome: str = "ok",
    client_id: str | None = None,
    user_id: str | None = None,
    request_id: str | None = None,
    **detail: Any,
) -> None:
    """Append one event, e.g. ``audit(tx.audit, "consent.approved", at=now, client_id=…, user_id=…)``.

    ``request_id`` defaults to the one bound by ``deputy.audit.context.bind_request_id``.
    """
    rid = request_id if request_id is not None else current_request_id.get()
    writer.append(
        at=at,
        event=event,
        outcome=outcome,
        client_id=client_id,
        user_id=user_id,
        detail=_scrub(detail),
        request_id=None if rid is None else _clean(rid)[:REQUEST_ID_MAX],
    )
    for observe in OBSERVERS:
        with contextlib.suppress(Exception):
            observe(event, outcome, detail)
