"""The store: a database plus a typed view of every repository inside one transaction."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection

from deputy.audit.chain import AuditKeySource
from deputy.storage.sql.audit import SqlAudit
from deputy.storage.sql.clients import SqlClients
from deputy.storage.sql.engine import Database
from deputy.storage.sql.flows import SqlFlows
from deputy.storage.sql.identity import SqlConsents, SqlSessions, SqlUsers
from deputy.storage.sql.intents import SqlIntentDrafts
from deputy.storage.sql.tokens import SqlCodes, SqlGrants, SqlRefreshTokens, SqlRevocations
from deputy.storage.sql.vault import SqlVault

__all__ = ["SqlStore", "Tx"]


class Tx:
    """Every repository bound to one connection, so a unit of work commits or rolls back as a whole."""

    def __init__(self, conn: Connection, audit_keys: AuditKeySource | None = None) -> None:
        self.conn = conn
        self.clients = SqlClients(conn)
        self.flows = SqlFlows(conn)
        self.users = SqlUsers(conn)
        self.sessions = SqlSessions(conn)
        self.consents = SqlConsents(conn)
        self.grants = SqlGrants(conn)
        self.codes = SqlCodes(conn)
        self.refresh_tokens = SqlRefreshTokens(conn)
        self.revocations = SqlRevocations(conn)
        self.vault = SqlVault(conn)
        self.intents = SqlIntentDrafts(conn)
        self.audit = SqlAudit(conn, audit_keys)


class SqlStore:
    """``audit_keys`` (the key ring) MAC the audit chain; only write transactions get them."""

    def __init__(self, db: Database, audit_keys: AuditKeySource) -> None:
        self.db = db
        self.audit_keys = audit_keys

    @contextmanager
    def write(self) -> Iterator[Tx]:
        """The audit entries of the unit of work are written last, just before commit (see ``SqlAudit.flush``)."""
        with self.db.write() as conn:
            tx = Tx(conn, self.audit_keys)
            yield tx
            tx.audit.flush()

    @contextmanager
    def audit_only(self) -> Iterator[SqlAudit]:
        """A transaction that writes audit entries and nothing else (the per-tool-call events). On SQLite it runs on
        the raw driver connection (``SqlAudit.flush_sqlite``): same lock, same chain, a fraction of the cost."""
        if self.db.dialect != "sqlite":
            with self.write() as tx:
                yield tx.audit
            return
        audit = SqlAudit(None, self.audit_keys)
        yield audit
        with self.db.raw_write() as cursor:
            audit.flush_sqlite(cursor)

    @contextmanager
    def read(self) -> Iterator[Tx]:
        with self.db.read() as conn:
            yield Tx(conn)
