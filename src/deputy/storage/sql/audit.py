"""Rows of the audit log. Appends only: no update or delete is exposed."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, select, text

from deputy.storage.sql.schema import audit_events

__all__ = ["SqlAudit"]


# Plain SQL text: a ``TextClause`` has a constant cache key, whereas an ``Insert`` re-derives its key and VALUES
# on every execution, which costs more than the insert itself on SQLite (measured: about 3x).
_INSERT = text(
    "INSERT INTO audit_events (at, event, outcome, client_id, user_id, detail) "
    "VALUES (:at, :event, :outcome, :client_id, :user_id, :detail)"
)


class SqlAudit:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def append(
        self, *, at: int, event: str, outcome: str, client_id: str | None, user_id: str | None, detail: dict[str, Any]
    ) -> None:
        detail_json = json.dumps(detail, sort_keys=True, separators=(",", ":"))
        params = {"at": at, "event": event, "outcome": outcome, "client_id": client_id, "user_id": user_id}
        self._c.execute(_INSERT, {**params, "detail": detail_json})

    def events(self, event: str | None = None) -> list[dict[str, Any]]:
        stmt = select(audit_events).order_by(audit_events.c.seq)
        if event is not None:
            stmt = stmt.where(audit_events.c.event == event)
        return [
            {
                "seq": r.seq,
                "at": r.at,
                "event": r.event,
                "outcome": r.outcome,
                "client_id": r.client_id,
                "user_id": r.user_id,
                "detail": json.loads(r.detail),
            }
            for r in self._c.execute(stmt)
        ]
