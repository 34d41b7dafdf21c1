"""Row ↔ record conversion helpers shared by the repositories."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

__all__ = ["dump_list", "insert_ignore", "join_scopes", "load_list", "split_scopes", "upsert"]


def dump_list(items: Sequence[str]) -> str:
    return json.dumps(list(items), separators=(",", ":"))


def load_list(raw: str) -> tuple[str, ...]:
    return tuple(str(x) for x in json.loads(raw))


def join_scopes(scopes: Sequence[str]) -> str:
    return " ".join(scopes)


def split_scopes(raw: str | None) -> tuple[str, ...]:
    return tuple(raw.split()) if raw else ()


def upsert(conn: Connection, table: Table, values: dict[str, Any], keys: Sequence[str], update: dict[str, Any]) -> None:
    """``INSERT … ON CONFLICT (keys) DO UPDATE``: atomic on both SQLite and PostgreSQL, so racing writers of the
    same natural key never hit an IntegrityError."""
    dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    stmt = dialect_insert(table).values(**values)
    conn.execute(stmt.on_conflict_do_update(index_elements=list(keys), set_=update))


def insert_ignore(conn: Connection, table: Table, values: dict[str, Any], keys: Sequence[str]) -> None:
    """``INSERT … ON CONFLICT (keys) DO NOTHING``: idempotent inserts that race safely."""
    dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    conn.execute(dialect_insert(table).values(**values).on_conflict_do_nothing(index_elements=list(keys)))
