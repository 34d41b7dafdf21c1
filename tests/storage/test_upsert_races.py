"""Racing writers of one natural key on PostgreSQL (READ COMMITTED).

``_rows.upsert`` promises that "racing writers of the same natural key never hit an IntegrityError". A
check-then-INSERT (SELECT or UPDATE first) is not serialised by PostgreSQL: a writer that commits the same key
between the check and the INSERT makes the INSERT fail. These tests pin that users and static clients are written
with the upsert.

The interleaving is made deterministic, without threads or sleeps: a ``before_cursor_execute`` hook on the
watched connection runs the competing writer, in its own committed transaction, just before the watched INSERT.
SQLite is not exercised: ``BEGIN IMMEDIATE`` serialises whole write transactions, so this window does not exist
there (and the competitor would wait for the write lock the watched transaction holds).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from deputy.keys import KeyRing
from deputy.oauth.models import Client, ClientKind
from deputy.storage.sql.engine import Database
from deputy.storage.sql.store import SqlStore, Tx

pytestmark = pytest.mark.postgres

NOW = 1_800_000_000


@pytest.fixture
def pg_store(postgres_url: str) -> Iterator[SqlStore]:
    db = Database(postgres_url)
    try:
        db.migrate()
        yield SqlStore(db, KeyRing.generate(NOW))
    finally:
        db.dispose()


@contextmanager
def competitor_before_insert(tx: Tx, table: str, competitor: Callable[[], None]) -> Iterator[list[str]]:
    """Run ``competitor`` once, just before ``tx`` executes its first ``INSERT INTO table``."""
    fired: list[str] = []

    def hook(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not fired and statement.startswith(f"INSERT INTO {table} "):
            fired.append(statement)
            competitor()

    event.listen(tx.conn, "before_cursor_execute", hook)
    try:
        yield fired
    finally:
        event.remove(tx.conn, "before_cursor_execute", hook)


def test_first_logins_of_one_subject_racing_yield_one_user(pg_store: SqlStore) -> None:
    store = pg_store
    winners = []

    def other_callback() -> None:
        with store.write() as other:
            winners.append(other.users.upsert_by_subject("acme|alice", "Alice", now=NOW))

    with store.write() as tx, competitor_before_insert(tx, "users", other_callback) as fired:
        user = tx.users.upsert_by_subject("acme|alice", "Alice Example", now=NOW + 1)
    assert fired, "the interleaving did not happen"
    assert user.user_id == winners[0].user_id
    with store.read() as tx:
        assert tx.users.load(user.user_id) == user


def test_two_instances_starting_together_both_write_the_static_client(pg_store: SqlStore) -> None:
    store = pg_store
    static = Client("static-client", "Operator App", ("https://ops.example/cb",), "none", ClientKind.STATIC, NOW)

    def other_instance() -> None:
        with store.write() as other:
            other.clients.upsert_static(static)

    with store.write() as tx, competitor_before_insert(tx, "clients", other_instance) as fired:
        tx.clients.upsert_static(static)
    assert fired, "the interleaving did not happen"
    with store.read() as tx:
        assert tx.clients.list_all() == [static]
