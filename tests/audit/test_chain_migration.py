"""Migration 0003 on a database that already has (unchained) audit entries: they are kept as legacy, the chain
starts right after them, and the migration can be undone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from audit_support import NOW, check, execute, fill, row
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError

from deputy.audit.chain import Problem
from deputy.audit.log import audit
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
    """The store as Deputy opens it in the start-up that migrated it to the chain: the head is signed ("the chain
    starts after the legacy entries")."""
    store = SqlStore(db, ring)
    with store.write() as tx:
        tx.audit.sign_unsigned_head(chain_just_introduced=True)
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


def test_a_restart_does_not_bless_a_log_reset_without_the_key(tmp_path: Path) -> None:
    """Strip every MAC, clear the head, restart: only a start that itself introduced the chain may sign a head
    over unchained entries; any later start leaves the reset visible (and appends refused)."""
    db = Database(f"sqlite:///{tmp_path / 'd.db'}")
    db.migrate()
    ring = KeyRing.generate(NOW)
    store = started(db, ring)
    fill(store, 20)
    execute(db, "UPDATE audit_events SET user_id = 'usr_nobody' WHERE seq = 9")
    execute(db, "UPDATE audit_events SET mac = NULL, key_id = NULL")
    execute(db, "UPDATE audit_head SET mac = NULL, key_id = NULL, head_mac = NULL")
    with store.write() as tx:  # what every start-up does (build_context)
        assert tx.audit.sign_unsigned_head() is False
    assert not check(db, ring).ok
    with pytest.raises(AuditUnavailableError):
        fill(store, 1)
    db.dispose()


def test_the_start_that_upgrades_an_unchained_log_signs_its_boundary(tmp_path: Path) -> None:
    """build_context on a database at revision 0002 with entries: the chain starts after them, signed."""
    from deputy.app import build_context
    from support import deputy_settings

    settings = deputy_settings(tmp_path)
    old = old_database(settings.storage.url)
    old.dispose()
    ctx = build_context(settings)
    try:
        with ctx.store.write() as tx:
            audit(tx.audit, "client.registered", at=NOW, client_id="c")
        report = check(ctx.store.db, ctx.keys)
    finally:
        ctx.store.db.dispose()
    assert report.ok and (report.legacy, report.verified) == (3, 1)


def test_an_audit_write_failure_on_sqlite_is_a_storage_error(tmp_path: Path) -> None:
    """The SQLite flush runs on the raw driver; its errors still surface as SQLAlchemy's (503 for an outage)."""
    db = Database(f"sqlite:///{tmp_path / 'd.db'}")
    db.migrate()
    store = started(db, KeyRing.generate(NOW))
    execute(db, "CREATE TRIGGER full BEFORE INSERT ON audit_events BEGIN SELECT RAISE(FAIL, 'disk is full'); END")
    with pytest.raises(DBAPIError), store.write() as tx:
        audit(tx.audit, "tool.called", at=NOW, client_id="c", user_id="u", tool="t")
    db.dispose()
