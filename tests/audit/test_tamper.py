"""Tampering with a stored log, as someone with write access to the database but not the audit key would: each
attack is detected at the right entry, on SQLite and PostgreSQL alike; an untouched log verifies."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from audit_support import NOW, check, execute, fill, row, swap_contents

from deputy.audit.chain import Head, Problem
from deputy.audit.context import bind_request_id
from deputy.audit.log import audit
from deputy.keys import KeyRing
from deputy.storage.sql.engine import Database
from deputy.storage.sql.store import SqlStore

N = 20


@dataclass
class Log:
    db: Database
    ring: KeyRing
    store: SqlStore


@pytest.fixture
def log(db_url: str) -> Iterator[Log]:
    db = Database(db_url)
    try:
        db.migrate()
        ring = KeyRing.generate(NOW)
        store = SqlStore(db, ring)
        fill(store, N)
        yield Log(db, ring, store)
    finally:
        db.dispose()


def test_an_intact_log_verifies(log: Log) -> None:
    report = check(log.db, log.ring)
    assert report.ok, report
    assert (report.verified, report.last_seq, report.legacy) == (N, N, 0)


@pytest.mark.parametrize(("column", "value"), [("outcome", "error"), ("detail", '{"tool":"other"}'),
                                               ("user_id", "usr_b"), ("at", NOW - 1)])  # fmt: skip
def test_editing_a_middle_entry_is_detected_at_its_seq(log: Log, column: str, value: object) -> None:
    execute(log.db, f"UPDATE audit_events SET {column} = :v WHERE seq = 9", v=value)  # noqa: S608
    report = check(log.db, log.ring)
    assert (report.problem, report.bad_seq, report.verified) == (Problem.MODIFIED, 9, 8)


def test_deleting_a_middle_entry_is_detected(log: Log) -> None:
    execute(log.db, "DELETE FROM audit_events WHERE seq = 7")
    report = check(log.db, log.ring)
    assert (report.problem, report.bad_seq) == (Problem.DELETED_OR_REORDERED, 7)


def test_swapping_two_entries_is_detected(log: Log) -> None:
    swap_contents(log.db, 5, 12)
    report = check(log.db, log.ring)
    assert (report.problem, report.bad_seq) == (Problem.DELETED_OR_REORDERED, 5)


@pytest.mark.parametrize("k", [1, 4])
def test_deleting_the_last_entries_is_detected_by_the_head(log: Log, k: int) -> None:
    execute(log.db, "DELETE FROM audit_events WHERE seq > :last", last=N - k)
    report = check(log.db, log.ring)
    assert (report.problem, report.bad_seq, report.verified) == (Problem.TRUNCATED, N - k + 1, N - k)


def test_moving_the_head_back_after_truncating_is_detected(log: Log) -> None:
    """The attacker rewinds the head to the new last entry, but cannot sign it."""
    last = row(log.db, N - 2)
    execute(log.db, "DELETE FROM audit_events WHERE seq > :s", s=N - 2)
    execute(log.db, "UPDATE audit_head SET seq = :s, mac = :m", s=N - 2, m=last["mac"])
    report = check(log.db, log.ring)
    assert (report.problem, report.reason) == (Problem.TRUNCATED, "the head checkpoint's signature is invalid")


def test_rolling_back_tail_and_head_together_needs_a_checkpoint(log: Log) -> None:
    """The documented limit: a rollback to an earlier *recorded* state passes alone, and fails against a
    checkpoint taken after it."""
    with log.db.engine.connect() as conn:
        saved = dict(conn.exec_driver_sql("SELECT seq, mac, key_id, head_mac FROM audit_head").mappings().one())
    fill(log.store, 5, start_at=NOW + 100)
    with log.store.read() as tx:
        checkpoint_row = tx.conn.exec_driver_sql("SELECT seq, mac, key_id, head_mac FROM audit_head").one()
    execute(log.db, "DELETE FROM audit_events WHERE seq > :s", s=saved["seq"])
    execute(log.db, "UPDATE audit_head SET seq = :seq, mac = :mac, key_id = :key_id, head_mac = :head_mac", **saved)
    assert check(log.db, log.ring).ok
    report = check(log.db, log.ring, checkpoint=Head(*checkpoint_row))
    assert (report.problem, report.bad_seq) == (Problem.TRUNCATED, N + 5)


def test_entries_across_an_audit_key_rotation_verify(log: Log) -> None:
    rotated = log.ring.rotated("audit", NOW + 50)
    fill(SqlStore(log.db, rotated), 6, start_at=NOW + 50)
    report = check(log.db, rotated)
    assert report.ok and report.verified == N + 6
    assert {row(log.db, 1)["key_id"], row(log.db, N + 6)["key_id"]} == {k.kid for k in rotated.audit}
    # the old ring alone cannot vouch for entries MACed with the new key
    old = check(log.db, log.ring)
    assert (old.problem, old.bad_seq) == (Problem.UNKNOWN_KEY, N + 1)


def test_a_request_id_is_recorded_and_covered_by_the_mac(log: Log) -> None:
    with bind_request_id("req-42"), log.store.write() as tx:
        audit(tx.audit, "token.issued", at=NOW + 500, client_id="dcl_a", user_id="usr_a")
        audit(tx.audit, "token.issued", at=NOW + 500, request_id="explicit")
    assert (row(log.db, N + 1)["request_id"], row(log.db, N + 2)["request_id"]) == ("req-42", "explicit")
    assert check(log.db, log.ring).ok
    execute(log.db, "UPDATE audit_events SET request_id = 'req-43' WHERE seq = :s", s=N + 1)
    report = check(log.db, log.ring)
    assert (report.problem, report.bad_seq) == (Problem.MODIFIED, N + 1)


def test_seq_is_gap_free_and_a_rolled_back_transaction_leaves_no_hole(log: Log) -> None:
    with pytest.raises(RuntimeError), log.store.write() as tx:
        audit(tx.audit, "consent.approved", at=NOW + 600)
        raise RuntimeError("the action failed")
    fill(log.store, 2, start_at=NOW + 601)
    with log.store.read() as tx:
        seqs = [e["seq"] for e in tx.audit.events()]
    assert seqs == list(range(1, N + 3))
    assert check(log.db, log.ring).ok


def test_a_ring_reloaded_in_place_signs_with_its_new_key_at_once(log: Log) -> None:
    """The store reads the live ring at every append, so a rotation picked up by a running instance applies."""
    log.ring.adopt(log.ring.rotated("audit", NOW + 70))
    fill(log.store, 1, start_at=NOW + 70)
    assert row(log.db, N + 1)["key_id"] == log.ring.audit[-1].kid != row(log.db, N)["key_id"]
    assert check(log.db, log.ring).ok
