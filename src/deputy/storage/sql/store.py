"""The store: a database plus a typed view of every repository inside one transaction."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection

from deputy.storage.sql.audit import SqlAudit
from deputy.storage.sql.clients import SqlClients
from deputy.storage.sql.engine import Database
from deputy.storage.sql.flows import SqlFlows
from deputy.storage.sql.identity import SqlConsents, SqlSessions, SqlUsers
from deputy.storage.sql.tokens import SqlCodes, SqlGrants, SqlRefreshTokens, SqlRevocations
from deputy.storage.sql.vault import SqlVault

__all__ = ["SqlStore", "Tx"]


class Tx:
    """Every repository bound to one connection, so a unit of work commits or rolls back as a whole."""

    def __init__(self, conn: Connection) -> None:
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
        self.audit = SqlAudit(conn)


class SqlStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    @contextmanager
    def write(self) -> Iterator[Tx]:
        with self.db.write() as conn:
            yield Tx(conn)

    @contextmanager
    def read(self) -> Iterator[Tx]:
        with self.db.read() as conn:
            yield Tx(conn)
