"""Shared by the audit tests: a store with a known log, direct SQL tampering, and verification of what is stored."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import text

from deputy.audit.chain import AuditKeys, Report, verify
from deputy.audit.log import audit
from deputy.keys import KeyRing
from deputy.storage.sql.audit import audit_snapshot
from deputy.storage.sql.engine import Database
from deputy.storage.sql.schema import audit_events
from deputy.storage.sql.store import SqlStore
from support import minimal_config

NOW = 1_800_000_000
FIELDS = ("at", "event", "outcome", "client_id", "user_id", "request_id", "detail", "key_id", "mac")


def fill(store: SqlStore, n: int, *, start_at: int = NOW, per_tx: int = 3, client_id: str = "dcl_a",
         user_id: str = "usr_a") -> None:  # fmt: skip
    """``n`` entries in transactions of up to ``per_tx`` entries each (one flush, one head move per transaction)."""
    i = 0
    while i < n:
        with store.write() as tx:
            for _ in range(min(per_tx, n - i)):
                audit(tx.audit, "tool.called", at=start_at + i, client_id=client_id, user_id=user_id,
                      tool=f"tool_{i}", result="ok")  # fmt: skip
                i += 1


def check(db: Database, ring: KeyRing, **kwargs: Any) -> Report:
    with audit_snapshot(db) as snap:
        return verify(snap.rows(), snap.head(), AuditKeys(ring.audit), **kwargs)


def execute(db: Database, sql: str, **params: Any) -> None:
    """Tampering as someone with write access to the database (and without the key) would do it."""
    with db.engine.begin() as conn:
        conn.execute(text(sql), params)


def row(db: Database, seq: int) -> dict[str, Any]:
    with db.engine.connect() as conn:
        found = conn.execute(text("SELECT * FROM audit_events WHERE seq = :seq"), {"seq": seq}).mappings().one()
    return dict(found)


def swap_contents(db: Database, a: int, b: int) -> None:
    """Exchange everything but ``seq`` between two entries (a reorder that keeps the numbering intact)."""
    ra, rb = row(db, a), row(db, b)
    with db.engine.begin() as conn:
        for seq, other in ((a, rb), (b, ra)):
            conn.execute(audit_events.update().where(audit_events.c.seq == seq).values({f: other[f] for f in FIELDS}))


def write_config(tmp_path: Path, db_url: str, keys_file: Path) -> Path:
    return minimal_config(tmp_path / "deputy.toml", storage_url=db_url, keys_file=keys_file, create_keys=False)
