"""Per-user CRM records. Every read and write takes the owner, so one user can never reach another's data."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from types import MappingProxyType

from deputy.clock import Clock

Scalar = str | int | float | None

ID_PREFIXES: dict[str, str] = {"contacts": "con", "deals": "deal", "notes": "note"}
FIRST_SEQUENCE = 1001


def isoformat(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Record:
    """``seq`` gives a stable creation order for cursors; it is never exposed to API callers."""

    id: str
    owner: str
    seq: int
    fields: Mapping[str, Scalar]
    created_at: int
    updated_at: int

    def to_json(self) -> dict[str, Scalar]:
        body: dict[str, Scalar] = {"id": self.id}
        body.update(self.fields)
        body["created_at"] = isoformat(self.created_at)
        body["updated_at"] = isoformat(self.updated_at)
        return body


@dataclass(frozen=True)
class Page:
    items: tuple[Record, ...]
    next_after: int | None


class RecordStore:
    """Thread-safe in-memory tables keyed by resource name."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._tables: dict[str, dict[str, Record]] = {name: {} for name in ID_PREFIXES}
        self._next_seq: dict[str, int] = dict.fromkeys(ID_PREFIXES, FIRST_SEQUENCE)

    def create(self, resource: str, owner: str, fields: Mapping[str, Scalar]) -> Record:
        now = self._clock.now()
        with self._lock:
            seq = self._next_seq[resource]
            self._next_seq[resource] = seq + 1
            record = Record(f"{ID_PREFIXES[resource]}_{seq}", owner, seq, _frozen(fields), now, now)
            self._tables[resource][record.id] = record
        return record

    def get(self, resource: str, owner: str, record_id: str) -> Record | None:
        with self._lock:
            record = self._tables[resource].get(record_id)
        return record if record is not None and record.owner == owner else None

    def update(self, resource: str, owner: str, record_id: str, changes: Mapping[str, Scalar]) -> Record | None:
        now = self._clock.now()
        with self._lock:
            record = self._tables[resource].get(record_id)
            if record is None or record.owner != owner:
                return None
            updated = replace(record, fields=_frozen({**record.fields, **changes}), updated_at=now)
            self._tables[resource][record_id] = updated
        return updated

    def page(
        self, resource: str, owner: str, after: int, limit: int, matches: Callable[[Record], bool] | None = None
    ) -> Page:
        """Return up to ``limit`` of the owner's records created after sequence number ``after``."""
        with self._lock:
            candidates = sorted(
                (record for record in self._tables[resource].values() if record.owner == owner and record.seq > after),
                key=lambda record: record.seq,
            )
        selected = [record for record in candidates if matches is None or matches(record)]
        items = tuple(selected[:limit])
        next_after = items[-1].seq if len(selected) > limit else None
        return Page(items, next_after)

    def count(self, resource: str, owner: str) -> int:
        with self._lock:
            return sum(1 for record in self._tables[resource].values() if record.owner == owner)


def _frozen(fields: Mapping[str, Scalar]) -> Mapping[str, Scalar]:
    return MappingProxyType(dict(fields))
