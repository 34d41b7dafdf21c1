"""The HMAC-chained audit log: appends per second and verification speed, on SQLite and PostgreSQL.

Appends go through the real store (``SqlStore.write`` + ``audit()``), so each transaction pays what a request
pays: the head read (``FOR UPDATE`` on PostgreSQL), the MACs, the INSERT and the head update. Three shapes:

* one event per transaction (a token grant, a consent decision);
* 32 events per transaction (the tool-call group commit, ``AuditBatcher``, under load);
* the same single-event transactions without the chain (plain INSERT with a seq), to show what the chain costs.

On PostgreSQL, 2 engines x 4 threads append at once as well (two instances contending for the head lock).
Verification runs ``deputy.audit.chain.verify`` over ``--entries`` entries generated in bulk with correct MACs
(not through the app), read through the same streaming snapshot ``deputy audit verify`` uses.

    .venv/bin/python bench/audit.py                       # SQLite; PostgreSQL too if DEPUTY_TEST_POSTGRES_URL is set
    .venv/bin/python bench/audit.py --entries 200000 --seconds 2

Every loop is bounded by both a count and a time limit.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _pg import scratch_schema
from sqlalchemy import text

from deputy.audit.chain import GENESIS, AuditKeys, canonical_json, entry_json, entry_mac, sign_head, verify
from deputy.audit.log import audit
from deputy.audit.parallel import verify_database
from deputy.keys import KeyRing
from deputy.storage.sql.audit import audit_snapshot
from deputy.storage.sql.engine import Database
from deputy.storage.sql.store import SqlStore

NOW = 1_800_000_000
MAX_TRANSACTIONS = 50_000
BATCH = 32
INSERT_CHUNK = 20_000


def timed(seconds: float, step: Callable[[], int]) -> float:
    """Run ``step`` (returns entries written) until ``seconds`` pass or MAX_TRANSACTIONS; entries per second."""
    entries, n = 0, 0
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline and n < MAX_TRANSACTIONS:
        entries += step()
        n += 1
    return entries / (time.perf_counter() - start)


def appender(store: SqlStore, per_tx: int) -> Callable[[], int]:
    def step() -> int:
        with store.write() as tx:
            for _ in range(per_tx):
                audit(tx.audit, "tool.called", at=NOW, client_id="dcl_bench", user_id="usr_bench", tool="contacts_list",
                      result="ok", duration_ms=1.5)  # fmt: skip
        return per_tx

    return step


def unchained(store: SqlStore) -> Callable[[], int]:
    """What one append cost before the chain: the same transaction with a plain INSERT (no head, no MAC)."""
    seq = iter(range(10**12, 10**13))
    insert = text(
        "INSERT INTO audit_events (seq, at, event, outcome, client_id, user_id, detail) "
        "VALUES (:seq, :at, 'tool.called', 'ok', 'dcl_bench', 'usr_bench', :detail)"
    )

    def step() -> int:
        with store.write() as tx:
            detail = canonical_json({"tool": "contacts_list", "result": "ok", "duration_ms": 1.5})
            tx.conn.execute(insert, {"seq": next(seq), "at": NOW, "detail": detail})
        return 1

    return step


def contended(stores: list[SqlStore], threads: int, seconds: float) -> float:
    """Single-event transactions from ``threads`` threads spread over the stores (instances)."""
    counts = [0] * threads
    stop = time.perf_counter() + seconds
    barrier = threading.Barrier(threads)

    def worker(i: int) -> None:
        step = appender(stores[i % len(stores)], 1)
        barrier.wait(timeout=30)
        while time.perf_counter() < stop and counts[i] < MAX_TRANSACTIONS:
            counts[i] += step()

    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        for f in [pool.submit(worker, i) for i in range(threads)]:
            f.result()
    return sum(counts) / (time.perf_counter() - start)


def generated(ring: KeyRing, n: int) -> Iterator[list[tuple[object, ...]]]:
    """``n`` chained entries in chunks, MACed exactly as the appender does."""
    key = ring.audit[-1]
    prev = GENESIS
    chunk: list[tuple[object, ...]] = []
    details = [canonical_json({"tool": "contacts_list", "result": "ok", "duration_ms": i}) for i in range(997)]
    for seq in range(1, n + 1):
        detail = details[seq % 997]
        fields = (
            seq,
            NOW + seq // 100,
            "tool.called",
            "ok",
            f"dcl_{seq % 50}",
            f"usr_{seq % 500}",
            f"req-{seq}",
            detail,
        )
        prev = entry_mac(key.key, prev, entry_json(*fields, key.kid))
        chunk.append((*fields, key.kid, prev.hex()))
        if len(chunk) == INSERT_CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


_COPY = "COPY audit_events (seq, at, event, outcome, client_id, user_id, request_id, detail, key_id, mac) FROM STDIN"
_INSERT = (
    "INSERT INTO audit_events (seq, at, event, outcome, client_id, user_id, request_id, detail, key_id, mac) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_MOVE_HEAD = text("UPDATE audit_head SET seq = :seq, mac = :mac, key_id = :key_id, head_mac = :head_mac WHERE id = 1")


def bulk_load(db: Database, ring: KeyRing, n: int) -> None:
    """Insert ``n`` entries straight through the DBAPI (executemany / COPY), then sign the head."""
    last: tuple[object, ...] = ()
    raw = db.engine.raw_connection()
    try:
        cur = raw.cursor()
        for chunk in generated(ring, n):
            if db.dialect == "postgresql":
                with cur.copy(_COPY) as copy:
                    for r in chunk:
                        copy.write_row(r)
            else:
                cur.executemany(_INSERT, chunk)
            last = chunk[-1]
        raw.commit()
    finally:
        raw.close()
    head = sign_head(ring.audit[-1], int(str(last[0])), bytes.fromhex(str(last[9])))
    with db.write() as conn:
        conn.execute(_MOVE_HEAD, head.to_json())


def bench_appends(label: str, url: str, seconds: float) -> None:
    db = Database(url)
    db.migrate()
    store = SqlStore(db, KeyRing.generate(NOW))
    try:
        single = timed(seconds, appender(store, 1))
        print(f"{label:<11} append, 1 event/transaction      {single:9.0f} entries/s  ({1e3 / single:.3f} ms each)")
        batched = timed(seconds, appender(store, BATCH))
        print(f"{label:<11} append, {BATCH} events/transaction    {batched:9.0f} entries/s")
        plain = timed(seconds, unchained(store))
        print(f"{label:<11} plain INSERT, no chain (baseline) {plain:9.0f} entries/s  ({1e3 / plain:.3f} ms each)")
        if db.dialect == "postgresql":
            second = Database(url)
            try:
                rate = contended([store, SqlStore(second, store.audit_keys)], 8, seconds)
                print(f"{label:<11} append, 2 instances x 4 threads  {rate:9.0f} entries/s")
            finally:
                second.dispose()
    finally:
        db.dispose()


def bench_verify(label: str, url: str, n: int) -> None:
    db = Database(url)
    db.migrate()
    ring = KeyRing.generate(NOW)
    try:
        start = time.perf_counter()
        bulk_load(db, ring, n)
        loaded = time.perf_counter() - start
        start, cpu = time.perf_counter(), time.process_time()
        with audit_snapshot(db) as snap:
            report = verify(snap.rows(), snap.head(), AuditKeys(ring.audit))
        took, cpu = time.perf_counter() - start, time.process_time() - cpu
        assert report.ok and report.verified == n, report
        print(
            f"{label:<11} verify {n} entries, one pass:   {took:6.2f} s = {n / took:9.0f} entries/s"
            f"  ({n / cpu:.0f} per CPU-second; bulk load {loaded:.1f} s)"
        )
        workers = os.cpu_count() or 1
        start = time.perf_counter()
        report = verify_database(url, ring.audit, workers=workers)  # what `deputy audit verify` runs
        took = time.perf_counter() - start
        assert report.ok and report.verified == n, report
        print(f"{label:<11} verify {n} entries, {workers} workers: {took:6.2f} s = {n / took:9.0f} entries/s")
    finally:
        db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=1_000_000, help="entries to verify")
    parser.add_argument("--seconds", type=float, default=3.0, help="per append measurement")
    parser.add_argument("--postgres", default=os.environ.get("DEPUTY_TEST_POSTGRES_URL"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bench_appends("sqlite", f"sqlite:///{Path(tmp) / 'appends.db'}", args.seconds)
        bench_verify("sqlite", f"sqlite:///{Path(tmp) / 'verify.db'}", args.entries)
    if not args.postgres:
        print("postgresql  skipped: set DEPUTY_TEST_POSTGRES_URL (or pass --postgres URL)")
        return
    for bench in (lambda url: bench_appends("postgresql", url, args.seconds),
                  lambda url: bench_verify("postgresql", url, args.entries)):  # fmt: skip
        with scratch_schema(args.postgres) as url:
            bench(url)


if __name__ == "__main__":
    main()
