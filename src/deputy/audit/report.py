"""How audit entries are shown to people and exported to other systems; formatting only, no I/O."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from deputy.audit.chain import Row

__all__ = ["EventTable", "export_line", "iso_time"]

_WIDTHS = {"time": 20, "event": 30, "what": 28, "outcome": 9, "client": 24, "user": 16}


def iso_time(at: int) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _detail(row: Row) -> dict[str, Any]:
    try:
        value = json.loads(row[7])
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def export_line(row: Row) -> str:
    """One entry as a JSON line: every stored field (``detail`` parsed), plus ``time`` in ISO 8601 for people."""
    seq, at, event, outcome, client_id, user_id, request_id, _, key_id, mac = row
    obj = {"seq": seq, "at": at, "time": iso_time(at), "event": event, "outcome": outcome, "client_id": client_id,
           "user_id": user_id, "request_id": request_id, "detail": _detail(row), "key_id": key_id,
           "mac": mac}  # fmt: skip
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n"


class EventTable:
    """A compact table answering "did client X touch user Y's data, and when", then one summary line.

    Columns: time, event, tool or operation, outcome; plus client and user when they are not fixed by the query.
    """

    def __init__(self, *, client_id: str | None, user_id: str | None) -> None:
        self.client_id = client_id
        self.user_id = user_id
        self.columns = ["time", "event", "what", "outcome"]
        self.columns += [c for c, fixed in (("client", client_id), ("user", user_id)) if fixed is None]
        self.count = 0
        self.first: int | None = None
        self.last: int | None = None

    def header(self) -> str:
        titles = {"time": "TIME", "event": "EVENT", "what": "TOOL/OPERATION", "outcome": "OUTCOME",
                  "client": "CLIENT", "user": "USER"}  # fmt: skip
        return self._format(titles)

    def line(self, row: Row) -> str:
        at = row[1]
        self.count += 1
        self.first = at if self.first is None else min(self.first, at)
        self.last = at if self.last is None else max(self.last, at)
        detail = _detail(row)
        what = detail.get("tool") or detail.get("operation") or "-"
        cells = {"time": iso_time(at), "event": row[2], "what": str(what), "outcome": row[3],
                 "client": row[4] or "-", "user": row[5] or "-"}  # fmt: skip
        return self._format(cells)

    def summary(self) -> str:
        """E.g. "client X: 3 events for user Y between A and B", or "no events for client X and user Y"."""
        if self.count == 0 or self.first is None or self.last is None:
            scope = " and ".join(f"{k} {v}" for k, v in (("client", self.client_id), ("user", self.user_id)) if v)
            return f"no events for {scope}" if scope else "no events"
        events = f"{self.count} {'event' if self.count == 1 else 'events'}"
        between = f"between {iso_time(self.first)} and {iso_time(self.last)}"
        if self.client_id is not None:
            for_user = f" for user {self.user_id}" if self.user_id is not None else ""
            return f"client {self.client_id}: {events}{for_user} {between}"
        if self.user_id is not None:
            return f"user {self.user_id}: {events} {between}"
        return f"{events} {between}"

    def _format(self, cells: dict[str, str]) -> str:
        parts = [_fit(cells[c], _WIDTHS[c]) for c in self.columns]
        return "  ".join(parts).rstrip()


def _fit(text: str, width: int) -> str:
    return text.ljust(width) if len(text) <= width else text[: width - 1] + "…"
