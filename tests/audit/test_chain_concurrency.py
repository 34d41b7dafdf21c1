"""Two instances (two engines, two connection pools) appending at once still form one chain, gap-free.

Threads are released together at a barrier; each opens its own write transactions through its instance's store.
On PostgreSQL the head row lock orders them; on SQLite ``BEGIN IMMEDIATE`` does (two engines on one file behave
like two processes).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from audit_support import NOW, check, fill

from deputy.keys import KeyRing
from deputy.storage.sql.engine import Database
from deputy.storage.sql.store import SqlStore

THREADS_PER_INSTANCE = 2
TRANSACTIONS = 100  # per thread; each writes one or two entries


def test_two_instances_appending_concurrently_form_one_valid_chain(db_url: str) -> None:
    ring = KeyRing.generate(NOW)
    first, second = Database(db_url), Database(db_url)
    try:
        first.migrate()
        stores = [SqlStore(first, ring), SqlStore(second, ring)]
        workers = [stores[i % 2] for i in range(2 * THREADS_PER_INSTANCE)]
        barrier = threading.Barrier(len(workers))

        def append(store: SqlStore, index: int) -> None:
            barrier.wait(timeout=30)
            for n in range(TRANSACTIONS):
                fill(store, 1 + n % 2, start_at=NOW + n, per_tx=2, client_id=f"dcl_{index}")

        with ThreadPoolExecutor(len(workers)) as pool:
            futures = [pool.submit(append, store, i) for i, store in enumerate(workers)]
            for f in futures:
                f.result(timeout=120)
        expected = len(workers) * sum(1 + n % 2 for n in range(TRANSACTIONS))
        report = check(first, ring)
        assert report.ok, report
        assert (report.verified, report.last_seq) == (expected, expected)
        with stores[1].read() as tx:
            seqs = [e["seq"] for e in tx.audit.events()]
        assert seqs == list(range(1, expected + 1))
        assert {e["client_id"] for e in _events(stores[0])} == {f"dcl_{i}" for i in range(len(workers))}
    finally:
        first.dispose()
        second.dispose()


def _events(store: SqlStore) -> list[dict[str, object]]:
    with store.read() as tx:
        return tx.audit.events()
