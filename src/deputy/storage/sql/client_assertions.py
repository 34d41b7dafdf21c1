"""Client assertions already used (RFC 7523 §3 item 7): a ``jti`` is accepted once, until its assertion expires."""

from __future__ import annotations

from sqlalchemy import Connection, delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from deputy.storage.sql.schema import client_assertions

__all__ = ["SqlClientAssertions"]


class SqlClientAssertions:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def save_once(self, assertion_hash: str, *, expires_at: int, now: int) -> bool:
        """Record an assertion as used; ``False`` when it was recorded before (a replay).

        One ``INSERT … ON CONFLICT DO NOTHING RETURNING``: of N concurrent uses exactly one inserts (and sees its row
        returned), on SQLite and PostgreSQL alike. Records whose assertion has expired are dropped first: such an
        assertion is refused on its ``exp`` anyway.
        """
        self._c.execute(delete(client_assertions).where(client_assertions.c.expires_at <= now))
        dialect_insert = pg_insert if self._c.dialect.name == "postgresql" else sqlite_insert
        stmt = dialect_insert(client_assertions).values(assertion_hash=assertion_hash, expires_at=expires_at)
        stmt = stmt.on_conflict_do_nothing(index_elements=["assertion_hash"])
        return self._c.execute(stmt.returning(client_assertions.c.assertion_hash)).first() is not None
