"""Migration 0003 on a database that already has (unchained) audit entries: they are kept as legacy, the chain
starts right after them, and the migration can be undone."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from audit_support import NOW, check, execute, fill, row
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError

from deputy.audit.chain import Problem
from deputy.keys import KeyRing
from deputy.storage.sql.audit import AuditUnavailableError
from deputy.storage.sql.engine import Database
from deputy.storage.sql.store import SqlStore
from support import migrate_to


def old_database(url: str) -> Database:
    """A database at revision 0002 holding three audit entries written the old way."""
    db = Database(url)
    migrate_to(db, "0002")
    for i in range(3):
        execute(db, "INSERT INTO audit_events (at, event, outcome, detail) VALUES (:at, 'code.issued', 'ok', '{}')",
                at=NOW + i)  # fmt: skip
    return db


@pytest.fixture
def old_db(db_url: str) -> Iterator[Database]:
    db = old_database(db_url)
    yield db
    db.dispose()


def started(db: Database, ring: KeyRing) -> SqlStore:
    """The store as Deputy opens it at start-up: the head is signed ("the chain starts after the legacy entries")."""
    store = SqlStore(db, ring)
    with store.write() as tx:
        tx.audit.sign_unsigned_head()
    return store


def test_old_entries_become_legacy_and_the_chain_follows_them(old_db: Database) -> None:
    old_db.migrate()
    ring = KeyRing.generate(NOW)
    fill(started(old_db, ring), 5, start_at=NOW + 10)
    report = check(old_db, ring)
    assert report.ok, report
    assert (report.legacy, report.verified, report.last_seq) == (3, 5, 8)
    assert row(old_db, 3)["mac"] is None and row(old_db, 4)["mac"] is not None


def test_a_deleted_legacy_tail_shows_at_the_chain_start(old_db: Database) -> None:
    old_db.migrate()
    ring = KeyRing.generate(NOW)
    fill(started(old_db, ring), 2, start_at=NOW + 10)
    execute(old_db, "DELETE FROM audit_events WHERE seq = 3")
    report = check(old_db, ring)
    assert (report.problem, report.bad_seq) == (Problem.DELETED_OR_REORDERED, 3)


@pytest.mark.postgres
def test_entries_can_no_longer_be_numbered_by_the_database_on_postgresql(postgres_url: str) -> None:
    """(SQLite's INTEGER PRIMARY KEY always numbers a row itself; the verifier reports such a row.)"""
    db = old_database(postgres_url)
    try:
        db.migrate()
        with pytest.raises(DBAPIError):
            execute(db, "INSERT INTO audit_events (at, event, outcome, detail) VALUES (1, 'x', 'ok', '{}')")
    finally:
        db.dispose()


def test_the_migration_downgrades_and_upgrades_again(old_db: Database) -> None:
    old_db.migrate()
    fill(started(old_db, KeyRing.generate(NOW)), 2)
    migrate_to(old_db, "0002", down=True)
    with old_db.engine.connect() as conn:
        assert "audit_head" not in inspect(conn).get_table_names()
        assert "mac" not in {c["name"] for c in inspect(conn).get_columns("audit_events")}
    execute(old_db, "INSERT INTO audit_events (at, event, outcome, detail) VALUES (1, 'x', 'ok', '{}')")
    old_db.migrate()
    with old_db.engine.connect() as conn:
        assert conn.execute(text("SELECT seq, mac FROM audit_head")).one() == (6, None)


def test_a_migrated_log_verifies_before_any_append_once_deputy_signed_its_boundary(old_db: Database) -> None:
    old_db.migrate()
    ring = KeyRing.generate(NOW)
    assert not check(old_db, ring).ok  # migrated, never opened by Deputy: the head is unsigned
    started(old_db, ring)
    report = check(old_db, ring)
    assert report.ok and (report.legacy, report.verified) == (3, 0)
    execute(old_db, "DELETE FROM audit_events WHERE seq = 3")  # a legacy tail deleted after the boundary was signed
    assert not check(old_db, ring).ok


def test_stripping_every_mac_and_resetting_the_head_is_detected_and_stops_appends(old_db: Database) -> None:
    """Someone with write access to the database but not the audit key disguises the whole log as legacy."""
    old_db.migrate()
    ring = KeyRing.generate(NOW)
    store = started(old_db, ring)
    fill(store, 5, start_at=NOW + 10)
    execute(old_db, "UPDATE audit_events SET user_id = 'usr_nobody' WHERE seq = 5")
    execute(old_db, "UPDATE audit_events SET mac = NULL, key_id = NULL")
    execute(old_db, "UPDATE audit_head SET mac = NULL, key_id = NULL, head_mac = NULL")
    assert not check(old_db, ring).ok
    with pytest.raises(AuditUnavailableError):  # fail closed: no entry is chained onto a rewritten head
        fill(store, 1, start_at=NOW + 20)
    with pytest.raises(AuditUnavailableError):
        fill(SqlStore(old_db, ring), 1, start_at=NOW + 20)
    assert not check(old_db, ring).ok


def test_a_forged_head_signature_stops_appends(old_db: Database) -> None:
    old_db.migrate()
    ring = KeyRing.generate(NOW)
    store = started(old_db, ring)
    fill(store, 2, start_at=NOW + 10)
    execute(old_db, "UPDATE audit_head SET head_mac = :f", f="0" * 64)
    with pytest.raises(AuditUnavailableError):
        fill(SqlStore(old_db, ring), 1, start_at=NOW + 20)
