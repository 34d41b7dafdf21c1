"""The range-parallel verifier gives the answers of the single pass: same verdict, same first bad entry."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from audit_support import NOW, check, execute, fill, swap_contents

from deputy.audit.chain import Problem, Report, sign_head
from deputy.audit.parallel import verify_database
from deputy.keys import KeyRing
from deputy.storage.sql.audit import audit_snapshot
from deputy.storage.sql.engine import Database
from deputy.storage.sql.store import SqlStore

N = 600  # three ranges of 200 with three workers


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, KeyRing]]:
    """One intact log, copied for each test (filling it is the slow part)."""
    path = tmp_path_factory.mktemp("parallel") / "log.db"
    db = Database(f"sqlite:///{path}")
    db.migrate()
    ring = KeyRing.generate(NOW)
    store = SqlStore(db, ring)
    with store.write() as tx:
        tx.audit.sign_unsigned_head()
    fill(store, N, per_tx=50)
    db.dispose()
    yield path, ring


def _copy(log: tuple[Path, KeyRing], tmp_path: Path) -> tuple[Database, str, KeyRing]:
    path, ring = log
    target = tmp_path / "log.db"
    target.write_bytes(path.read_bytes())
    url = f"sqlite:///{target}"
    return Database(url), url, ring


def _both(db: Database, url: str, ring: KeyRing, **kwargs: object) -> tuple[Report, Report]:
    parallel = verify_database(url, ring.audit, workers=3, min_parallel=0, **kwargs)  # type: ignore[arg-type]
    return parallel, check(db, ring, **kwargs)


def test_an_intact_log_verifies_in_parallel(log: tuple[Path, KeyRing], tmp_path: Path) -> None:
    db, url, ring = _copy(log, tmp_path)
    parallel, single = _both(db, url, ring)
    db.dispose()
    assert parallel.ok and single.ok and parallel.verified == single.verified == N


@pytest.mark.parametrize("seq", [1, 150, 200, 201, 399, 401, 600])
def test_an_edited_entry_is_found_at_the_same_place(log: tuple[Path, KeyRing], tmp_path: Path, seq: int) -> None:
    db, url, ring = _copy(log, tmp_path)
    execute(db, "UPDATE audit_events SET user_id = 'usr_nobody' WHERE seq = :s", s=seq)
    parallel, single = _both(db, url, ring)
    db.dispose()
    assert not parallel.ok and (parallel.problem, parallel.bad_seq) == (single.problem, single.bad_seq)
    assert parallel.bad_seq == seq


@pytest.mark.parametrize("seq", [200, 201, 450])
def test_an_edited_mac_is_found_at_the_same_place(log: tuple[Path, KeyRing], tmp_path: Path, seq: int) -> None:
    db, url, ring = _copy(log, tmp_path)
    execute(db, "UPDATE audit_events SET mac = :m WHERE seq = :s", m="0" * 64, s=seq)
    parallel, single = _both(db, url, ring)
    db.dispose()
    assert not parallel.ok and parallel.bad_seq == single.bad_seq == seq


def test_swapped_entries_across_a_boundary_are_found(log: tuple[Path, KeyRing], tmp_path: Path) -> None:
    db, url, ring = _copy(log, tmp_path)
    swap_contents(db, 200, 201)
    parallel, single = _both(db, url, ring)
    db.dispose()
    assert not parallel.ok and not single.ok and parallel.bad_seq == single.bad_seq


@pytest.mark.parametrize(
    "sql", ["DELETE FROM audit_events WHERE seq = 200", "DELETE FROM audit_events WHERE seq > 590"]
)
def test_deletions_are_found(log: tuple[Path, KeyRing], tmp_path: Path, sql: str) -> None:
    db, url, ring = _copy(log, tmp_path)
    execute(db, sql)
    parallel, single = _both(db, url, ring)
    db.dispose()
    assert not parallel.ok and (parallel.problem, parallel.bad_seq) == (single.problem, single.bad_seq)


def test_a_checkpoint_is_honoured_in_parallel(log: tuple[Path, KeyRing], tmp_path: Path) -> None:
    db, url, ring = _copy(log, tmp_path)
    with audit_snapshot(db) as snap:
        entry = snap.mac_of(300)
    assert entry is not None
    good = sign_head(ring.audit[-1], 300, bytes.fromhex(entry))
    parallel, single = _both(db, url, ring, checkpoint=good)
    assert parallel.ok and single.ok
    forged_history = sign_head(ring.audit[-1], 300, bytes(32))  # signed, but not what the log holds at 300
    parallel, single = _both(db, url, ring, checkpoint=forged_history)
    db.dispose()
    assert not parallel.ok and parallel.problem == single.problem == Problem.TRUNCATED
