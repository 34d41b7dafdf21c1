"""A mixed workload against one and against two Deputy instances on PostgreSQL, behind HAProxy, side by side.

Operations in fixed proportions (tests/workload.py ``BENCH_MIX``): authorization flows 10 % (register, consent,
Acme sign-in, code exchange), refreshes 20 %, tool calls 60 % (``contacts_list`` through the broker to Acme CRM),
revocations 10 %. The cluster is tests/cluster.py's: N ``deputy serve`` processes, one schema, one key ring,
HAProxy round robin in front, Acme CRM in its own process. Load comes from this process, on the same machine.

For each cluster size: a warm-up run (``--warmup`` seconds, not counted), then the measured run (``--seconds``).
Printed: operations per second and p50/p99 latency per operation and in total, errors (must be zero; each one is
printed), and every Deputy process's RSS at start, after warm-up and at the end (flat means within 10 % of the
warm-up value).

    .venv/bin/python bench/load.py                               # 20 s per cluster size, 16 workers
    .venv/bin/python bench/load.py --seconds 5 --workers 8 --postgres postgresql+psycopg://postgres@127.0.0.1/test

Every loop is bounded by both an operation count and a time limit.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from cluster import AcmeProcess, Cluster, cpu_seconds, haproxy_missing, start_cluster
from workload import BENCH_MIX, Outcome, Workload

MAX_OPS_PER_WORKER = 50_000
RSS_FLAT = 0.10  # the end RSS may differ from the post-warm-up RSS by this fraction

Row = tuple[int, float, float, float, int]  # count, per second, p50 ms, p99 ms, errors
Memory = dict[str, tuple[int, int, int]]  # instance -> RSS KiB at start, after warm-up, at the end


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, max(0, round(q * len(sorted_values)) - 1))]


def summarise(load: Workload, seconds: float) -> dict[str, Row]:
    rows: dict[str, Row] = {}
    by_op = load.by_op()
    groups: dict[str, list[Outcome]] = {op: by_op.get(op, []) for op in dict.fromkeys(BENCH_MIX)}
    groups["total"] = load.outcomes
    for name, outcomes in groups.items():
        ok = sorted(o.seconds * 1000 for o in outcomes if o.ok)
        errors = sum(not o.ok for o in outcomes)
        p50 = statistics.median(ok) if ok else 0.0
        rows[name] = (len(ok), len(ok) / seconds, p50, percentile(ok, 0.99), errors)
    return rows


def rss(cluster: Cluster) -> dict[str, int]:
    return {i.name: i.rss_kib() for i in cluster.instances}


def cpu(cluster: Cluster) -> dict[str, float]:
    """CPU seconds used so far by each process of the stack, and by this load generator."""
    assert isinstance(cluster.acme, AcmeProcess)
    pids = {i.name: i.pid for i in cluster.instances}
    pids |= {"haproxy": cluster.lb.proc.pid, "acme": cluster.acme.proc.pid}
    used = {name: cpu_seconds(pid) for name, pid in pids.items()}
    return used | {"load generator": time.process_time(), "whole machine": machine_cpu_seconds()}


def machine_cpu_seconds() -> float:
    """CPU seconds every process on the machine has used (all cores, idle and I/O wait excluded), /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text(encoding="ascii").split("\n", 1)[0].split()[1:8]]
    user, nice, system, _idle, _iowait, irq, softirq = fields
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


async def run_load(cluster: Cluster, workers: int, seconds: float) -> tuple[Workload, float]:
    load = Workload(cluster.url, cluster.client, workers=workers, max_ops=MAX_OPS_PER_WORKER, seconds=seconds)
    started = asyncio.get_running_loop().time()
    await load.run()
    return load, asyncio.get_running_loop().time() - started


def bench(n: int, postgres: str, args: argparse.Namespace) -> tuple[dict[str, Row], Memory, dict[str, float]]:
    url, schema = fresh_schema(postgres)
    try:
        with (
            tempfile.TemporaryDirectory() as tmp,
            start_cluster(Path(tmp), url, instances=n, acme_in_process=False) as cluster,
        ):
            at_start = rss(cluster)
            asyncio.run(run_load(cluster, args.workers, args.warmup))
            warm, cpu_before = rss(cluster), cpu(cluster)
            load, elapsed = asyncio.run(run_load(cluster, args.workers, args.seconds))
            at_end, cpu_after = rss(cluster), cpu(cluster)
    finally:
        drop_schema(postgres, schema)
    for failure in load.failures():
        print(f"  error: {failure.op}: {failure.detail}", flush=True)
    busy = {k: (cpu_after[k] - cpu_before[k]) / elapsed for k in cpu_after}
    return summarise(load, elapsed), {k: (at_start[k], warm[k], at_end[k]) for k in at_start}, busy


def fresh_schema(base_url: str) -> tuple[str, str]:
    schema = "bench_" + secrets.token_hex(4)
    engine = create_engine(base_url)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    sep = "&" if "?" in base_url else "?"
    return f"{base_url}{sep}options=-csearch_path%3D{schema}", schema


def drop_schema(base_url: str, schema: str) -> None:
    engine = create_engine(base_url)
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


def print_results(n: int, rows: dict[str, Row], memory: Memory, busy: dict[str, float]) -> None:
    print(f"\n{n} instance(s) behind HAProxy")
    for name, (count, rate, p50, p99, errors) in rows.items():
        print(
            f"  {name:<11} {count:>7} ops {rate:8.1f}/s   p50 {p50:8.2f} ms   p99 {p99:8.2f} ms   errors {errors}",
            flush=True,
        )
    for name, (start, warm, end) in memory.items():
        change = (end - warm) / warm
        verdict = "flat" if abs(change) <= RSS_FLAT else "NOT FLAT"
        print(
            f"  RSS {name}: start {start / 1024:6.1f} MiB, after warm-up {warm / 1024:6.1f} MiB, "
            f"end {end / 1024:6.1f} MiB ({change:+.1%}, {verdict})"
        )
    print(
        f"  CPU (cores busy, of {os.cpu_count()}): " + ", ".join(f"{name} {share:.2f}" for name, share in busy.items())
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds per cluster size")
    parser.add_argument("--warmup", type=float, default=4.0, help="seconds of load before measuring")
    parser.add_argument("--workers", type=int, default=16, help="concurrent clients")
    parser.add_argument("--postgres", default=os.environ.get("DEPUTY_TEST_POSTGRES_URL"))
    args = parser.parse_args()
    if not args.postgres:
        sys.exit("PostgreSQL is required: --postgres URL or DEPUTY_TEST_POSTGRES_URL")
    if reason := haproxy_missing():
        sys.exit(reason)
    results = {n: bench(n, args.postgres, args) for n in (1, 2)}
    for n, (rows, memory, busy) in results.items():
        print_results(n, rows, memory, busy)
    print("\ntwo instances vs one (throughput)")
    one, two = results[1][0], results[2][0]
    for name in one:
        ratio = two[name][1] / one[name][1] if one[name][1] else float("nan")
        print(f"  {name:<11} {ratio:5.2f}x")
    if any(row[4] for rows, _, _ in results.values() for row in rows.values()):
        sys.exit("errors occurred (listed above)")


if __name__ == "__main__":
    main()
