"""Engines for SQLite and PostgreSQL with the transaction semantics the one-shot invariants rely on.

SQLite: WAL, a busy timeout, and ``BEGIN IMMEDIATE`` for write transactions so that two writers never both hold a
read lock and deadlock on the upgrade; read transactions stay ``DEFERRED`` and never block writers under WAL.
PostgreSQL: READ COMMITTED; every one-shot consumption is a single ``UPDATE … RETURNING`` guarded by its
precondition, so of N concurrent redemptions exactly one sees the row.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from deputy.errors import ConfigError

__all__ = ["Database"]

_PG_MIGRATION_LOCK = 0x6465707574790001  # "deputy" + 1: advisory lock serialising concurrent migrations


def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (see _sqlite_begin)
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _sqlite_begin(conn: Connection) -> None:
    mode = "DEFERRED" if conn.get_execution_options().get("deputy_readonly") else "IMMEDIATE"
    conn.exec_driver_sql(f"BEGIN {mode}")


class Database:
    """An engine plus the two kinds of transaction Deputy uses."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        self._write_lock: threading.Lock | contextlib.nullcontext[None] = (
            threading.Lock() if self.dialect == "sqlite" else contextlib.nullcontext()
        )
        if self.dialect == "sqlite":
            self.engine = self._sqlite_engine(url)
        elif self.dialect == "postgresql":
            if parsed.drivername == "postgresql":
                parsed = parsed.set(drivername="postgresql+psycopg")
            self.engine = create_engine(parsed, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)
        else:
            raise ConfigError(f"storage.url: unsupported database {self.dialect!r}")

    @staticmethod
    def _sqlite_engine(url: str) -> Engine:
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        # Every use is an explicit transaction that commits or rolls back, so the pool need not roll back again on
        # return (one SQLite call less per unit of work).
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 10}, pool_reset_on_return=None, pool_size=8
        )
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A read-write transaction: committed on success, rolled back on any exception.

        On SQLite, writers in this process queue on a lock first: SQLite allows one writer at a time anyway, and its
        own busy handler waits by sleeping (up to 100 ms a try), which under load costs far more than a handoff.
        Other processes still meet SQLite's busy timeout.
        """
        with self._write_lock, self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def raw_write(self) -> Iterator[Any]:
        """SQLite only: a write transaction on the raw driver cursor (``BEGIN IMMEDIATE`` … ``COMMIT``, rolled back
        on any exception), under the same in-process writer lock as ``write``. For hot paths whose statements are
        fixed text, where SQLAlchemy's per-statement machinery costs more than SQLite's own work."""
        if self.dialect != "sqlite":
            raise RuntimeError("raw_write is for SQLite")
        with self._write_lock:
            raw = self.engine.raw_connection()
            try:
                cursor = raw.cursor()
                cursor.execute("BEGIN IMMEDIATE")
                try:
                    yield cursor
                    cursor.execute("COMMIT")
                except BaseException:
                    if raw.driver_connection is not None and raw.driver_connection.in_transaction:
                        cursor.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                # Raised as SQLAlchemy's exception, as on every other path: an OperationalError (a full disk, a
                # locked database) is then answered 503 like any other storage outage, not 500.
                raise DBAPIError.instance(None, None, exc, sqlite3.Error) from exc
            finally:
                raw.close()  # back to the pool

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction (never takes SQLite's write lock)."""
        with self.engine.connect().execution_options(deputy_readonly=True) as conn, conn.begin():
            yield conn

    def migrate(self) -> str | None:
        """Bring the schema to the newest revision; safe when several instances start at once. Returns the revision
        the database was at before (None: a new database), read under the same lock as the upgrade."""
        from alembic import command
        from alembic.config import Config
        from alembic.runtime.migration import MigrationContext

        logging.getLogger("alembic").setLevel(logging.WARNING)
        cfg = Config()
        cfg.set_main_option("script_location", str(Path(__file__).parent.parent / "migrations"))
        with self.engine.connect() as conn:
            if self.dialect == "postgresql":
                conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
            try:
                before = MigrationContext.configure(conn).get_current_revision()
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
                conn.commit()
                return before
            finally:
                if self.dialect == "postgresql":
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_MIGRATION_LOCK})
                    conn.commit()

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except OperationalError:
            return False

    def dispose(self) -> None:
        self.engine.dispose()
