"""Rows of the audit log. Appends only: no update or delete is exposed."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, insert, select

from deputy.storage.sql.schema import audit_events

__all__ = ["SqlAudit"]


_INSERT = insert(audit_events)


class SqlAudit:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def append(
        self, *, at: int, event: str, outcome: str, client_id: str | None, user_id: str | None, detail: dict[str, Any]
    ) -> None:
        self._c.execute(
            insert(audit_events).values(
                at=at,
                event=event,
                outcome=outcome,
                client_id=client_id,
                user_id=user_id,
                detail=json.dumps(detail, sort_keys=True, separators=(",", ":")),
            )
        )

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
