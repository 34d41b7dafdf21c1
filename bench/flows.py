"""Authorization flows per second and refresh grants per second, on SQLite and PostgreSQL, at 1k and 100k rows.

The stack under test is `deputy demo` (Acme CRM + Deputy, one uvicorn process) started as a subprocess; the load
comes from this process over loopback. Before each run the database is seeded with N registered clients and N
consents, so the numbers show whether lookups stay flat as tables grow.

    .venv/bin/python bench/flows.py                      # SQLite, 1k and 100k
    .venv/bin/python bench/flows.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432/test
    .venv/bin/python bench/flows.py --sizes 1000 --seconds 5 --concurrency 16

Every loop is bounded by both a request count and a time limit.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from _pg import scratch_schema
from sqlalchemy import insert

from deputy.storage.sql.engine import Database

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from deputy.storage.sql.schema import clients, consents, users
from headless import obtain_tokens

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _wrk import run_wrk

REDIRECT = "http://127.0.0.1:9/cb"  # never contacted: the driver stops at the redirect
MAX_REQUESTS = 200_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def seed(url: str, n: int) -> None:
    """N dynamic clients and N consents (for N users), inserted in bulk before the server starts."""
    db = Database(url)
    db.migrate()
    now = int(time.time())
    batch = 5000
    with db.engine.begin() as conn:
        for start in range(0, n, batch):
            rows = range(start, min(n, start + batch))
            conn.execute(
                insert(users),
                [
                    {
                        "user_id": f"usr_seed{i}",
                        "upstream_subject": f"seed-{i}",
                        "display_name": f"Seed {i}",
                        "created_at": now,
                    }
                    for i in rows
                ],
            )
            conn.execute(
                insert(clients),
                [
                    {
                        "client_id": f"dcl_seed{i}",
                        "client_name": f"Seed client {i}",
                        "redirect_uris": f'["{REDIRECT}"]',
                        "token_endpoint_auth_method": "none",
                        "grant_types": '["authorization_code","refresh_token"]',
                        "application_type": "native",
                        "kind": "dynamic",
                        "created_at": now,
                        "expires_at": now + 86400,
                        "registered_from": f"seed-{i % 97}",
                    }
                    for i in rows
                ],
            )
            conn.execute(
                insert(consents),
                [
                    {
                        "user_id": f"usr_seed{i}",
                        "client_id": f"dcl_seed{i}",
                        "redirect_uri": REDIRECT,
                        "scopes": "crm.read",
                        "approved_at": now,
                    }
                    for i in rows
                ],
            )
    db.dispose()


class Stack:
    """`deputy demo` in a subprocess, on free ports, with its own data directory."""

    def __init__(self, data_dir: Path, db_url: str | None) -> None:
        self.port, self.acme_port, self.client_port = free_port(), free_port(), free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "DEPUTY_REGISTRATION__RATE_LIMIT_PER_HOUR": "1000000"}
        if db_url:
            env["DEPUTY_STORAGE__URL"] = db_url
        cmd = [
            sys.executable,
            "-m",
            "deputy",
            "demo",
            "--data-dir",
            str(data_dir),
            "--port",
            str(self.port),
            "--acme-port",
            str(self.acme_port),
            "--client-port",
            str(self.client_port),
        ]
        self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def wait(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(self.base + "/jwks", timeout=1).raise_for_status()
                return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError("deputy demo did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=15)


async def one_flow(base: str, client_id: str | None = None) -> dict[str, str]:
    """register → authorize → consent → Acme login/consent → callback → token, as one new browser."""
    tokens = await obtain_tokens(base, redirect_uri=REDIRECT, scope="crm.read", client_id=client_id)
    return {"client_id": tokens["client_id"], "refresh_token": tokens["refresh_token"]}


async def measure(name: str, worker, concurrency: int, seconds: float) -> tuple[float, float, float, int]:  # type: ignore[no-untyped-def]
    latencies: list[float] = []
    errors = 0
    deadline = time.monotonic() + seconds

    async def loop(i: int) -> None:
        nonlocal errors
        state = None
        while time.monotonic() < deadline and len(latencies) < MAX_REQUESTS:
            t0 = time.perf_counter()
            try:
                state = await worker(i, state)
                latencies.append(time.perf_counter() - t0)
            except Exception:
                errors += 1
                state = None

    start = time.monotonic()
    await asyncio.gather(*(loop(i) for i in range(concurrency)))
    elapsed = time.monotonic() - start
    lat = sorted(latencies)
    p50 = statistics.median(lat) * 1000 if lat else 0.0
    p99 = lat[int(len(lat) * 0.99) - 1] * 1000 if lat else 0.0
    return len(lat) / elapsed, p50, p99, errors


REFRESH_LUA = r"""
-- All families belong to one client. Each thread keeps a queue of refresh tokens, two per connection: a request
-- takes one and its response puts the rotated one back, so every refresh presents a live token of some family.
local threads = {}
function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end
function init(args)
  queue, errors, nthreads = {}, 0, tonumber(args[2])
  local i = 0
  for line in io.lines(args[1]) do
    if i % nthreads == tid then
      local cid, rt = line:match("^(%S+) (%S+)$")
      client_id = cid
      table.insert(queue, rt)
    end
    i = i + 1
  end
end
function request()
  local rt = table.remove(queue, 1)
  return wrk.format("POST", nil, {["Content-Type"] = "application/x-www-form-urlencoded"},
    "grant_type=refresh_token&client_id=" .. client_id .. "&refresh_token=" .. rt)
end
function response(status, headers, body)
  local rt = body:match('"refresh_token":"([^"]+)"')
  if status ~= 200 or rt == nil then errors = errors + 1 else table.insert(queue, rt) end
end
function done(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do total = total + t:get("errors") end
  io.write(string.format("BENCH requests=%d seconds=%f errors=%d p50=%f p99=%f\n", summary.requests,
    summary.duration / 1e6, total, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
"""


def wrk_refresh(
    base: str, families: list[dict[str, str]], connections: int, seconds: float
) -> tuple[float, float, float, int]:
    """Refresh grants driven by wrk (a C load generator in its own process), one connection per family.

    Twice as many families as connections, so a connection never waits for a token.
    """
    with tempfile.TemporaryDirectory() as tmp:
        script, fams = Path(tmp) / "refresh.lua", Path(tmp) / "families.txt"
        script.write_text(REFRESH_LUA)
        fams.write_text("".join(f"{f['client_id']} {f['refresh_token']}\n" for f in families))
        r = run_wrk(
            base + "/token", script, connections=connections, seconds=seconds, threads=2, script_args=(str(fams), "2")
        )
    return r["rps"], r["p50"], r["p99"], int(r["errors"])


async def run_stack(base: str, concurrency: int, seconds: float) -> dict[str, tuple[float, float, float, int]]:
    async def flow_worker(i: int, state: object) -> object:
        return await one_flow(base)

    if shutil.which("wrk"):
        first = await one_flow(base)
        rest = await asyncio.gather(*(one_flow(base, first["client_id"]) for _ in range(2 * concurrency - 1)))
        refresh = await asyncio.to_thread(wrk_refresh, base, [first, *rest], concurrency, seconds)
        flows = await measure("flows", flow_worker, concurrency, seconds)
        return {"flows/s": flows, "refresh grants/s": refresh}
    families = await asyncio.gather(*(one_flow(base) for _ in range(concurrency)))
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=concurrency)) as http:

        async def refresh_worker(i: int, state: object) -> object:
            fam = families[i]
            r = await http.post(
                base + "/token",
                data={
                    "grant_type": "refresh_token",
                    "client_id": fam["client_id"],
                    "refresh_token": fam["refresh_token"],
                },
            )
            r.raise_for_status()
            fam["refresh_token"] = r.json()["refresh_token"]
            return fam

        refresh = await measure("refresh", refresh_worker, concurrency, seconds)
    flows = await measure("flows", flow_worker, concurrency, seconds)
    return {"flows/s": flows, "refresh grants/s": refresh}


def bench_one(
    label: str, db_url: str | None, size: int, args: argparse.Namespace
) -> dict[str, tuple[float, float, float, int]]:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        url = db_url or f"sqlite:///{data / 'deputy.db'}"
        seed(url, size)
        stack = Stack(data, db_url)
        try:
            stack.wait()
            results = asyncio.run(run_stack(stack.base, args.concurrency, args.seconds))
        finally:
            stack.stop()
    for metric, (rate, p50, p99, errors) in results.items():
        print(
            f"{label:<11} {size:>7} rows  {metric:<17} {rate:8.1f}/s   p50 {p50:7.2f} ms   p99 {p99:7.2f} ms"
            f"   errors {errors}",
            flush=True,
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 100_000])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--postgres", default=os.environ.get("DEPUTY_TEST_POSTGRES_URL"))
    args = parser.parse_args()
    backends: list[tuple[str, str | None]] = [("sqlite", None)]
    if args.postgres:
        backends.append(("postgresql", args.postgres))
    summary: dict[tuple[str, int], dict[str, tuple[float, float, float, int]]] = {}
    for label, base in backends:
        for size in args.sizes:
            if base is None:
                summary[(label, size)] = bench_one(label, None, size, args)
                continue
            with scratch_schema(base) as url:
                summary[(label, size)] = bench_one(label, url, size, args)
    if len(args.sizes) > 1:
        small, large = min(args.sizes), max(args.sizes)
        for label, _ in backends:
            for metric in ("flows/s", "refresh grants/s"):
                ratio = summary[(label, large)][metric][0] / summary[(label, small)][metric][0]
                print(f"{label:<11} {metric:<17} {large} rows vs {small} rows: {ratio:.2f}x")


if __name__ == "__main__":
    main()
