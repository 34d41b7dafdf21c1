"""Brokered upstream calls versus direct calls with the raw token, side by side in one run.

Acme CRM runs in its own process (bench/_acme.py) and issues one token pair. The *direct* side calls Acme's API
with the raw access token, the way a passthrough proxy would; the *brokered* side makes the same call through
Deputy's broker: ``BrokeredApiClient`` with ``VaultCredentials``, which reads the sealed token from the vault
(SQLite, or PostgreSQL with ``--postgres``), decrypts it, injects it into that one request, bounds and parses the
response and scrubs the credential from it. Both sides parse the JSON body. Rounds alternate which side goes
first, and the median round is reported, so drift on a shared machine hits both sides alike.

Then the audit log: appends per second and ``deputy audit verify`` speed, from bench/audit.py.

Usage: python bench/broker.py [--seconds 2] [--rounds 5] [--concurrency 1,8] [--postgres URL]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from _pg import scratch_schema

from deputy.app import build_context
from deputy.broker.credentials import VaultCredentials
from deputy.demo.runner import demo_settings
from deputy.resource.requests import UpstreamRequest
from deputy.resource.upstream_api import BrokeredApiClient, CallGrant
from deputy.service.context import ServiceContext
from deputy.upstream.client import UpstreamClient

HERE = Path(__file__).resolve().parent
USER = "bench-user"
PATH = "/contacts"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_acme(port: int) -> tuple[subprocess.Popen[str], str, str]:
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "_acme.py"), str(port)], stdout=subprocess.PIPE, text=True, env=os.environ.copy()
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().split()
    if len(line) != 2:
        proc.kill()
        raise RuntimeError("bench/_acme.py did not start")
    return proc, line[0], line[1]


def seal_tokens(ctx: ServiceContext, access: str, refresh: str) -> None:
    now = ctx.clock.now()
    name = ctx.settings.upstream.name
    with ctx.store.write() as tx:
        for purpose, secret, expires in (("access_token", access, now + 3000), ("refresh_token", refresh, None)):
            tx.vault.put(
                ctx.vault.seal(user_id=USER, upstream=name, purpose=purpose, secret=secret, expires_at=expires, now=now)
            )


async def rate(call: Callable[[], Awaitable[Any]], concurrency: int, seconds: float) -> float:
    """Completed calls per second with ``concurrency`` workers, each calling in a loop for ``seconds``."""
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await call()
            done += 1

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done / (time.perf_counter() - start)


async def measure(ctx: ServiceContext, api_url: str, access: str, args: argparse.Namespace) -> None:
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(follow_redirects=False, limits=limits, timeout=10) as http:

        async def upstream() -> UpstreamClient:
            raise RuntimeError("the bench token does not expire")

        async def run(fn: Callable[..., Any], *a: Any) -> Any:
            if ctx.store.db.engine.dialect.name == "sqlite":
                return fn(*a)
            return await asyncio.to_thread(fn, *a)

        broker = BrokeredApiClient(http, api_url, VaultCredentials(ctx, upstream, run))
        grant = CallGrant(USER, "bench-client", frozenset({"crm.read"}))
        request = UpstreamRequest("GET", PATH, scope="crm.read")

        async def direct() -> object:
            r = await http.get(api_url + PATH, headers={"Authorization": f"Bearer {access}"})
            r.raise_for_status()
            return r.json()

        async def brokered() -> object:
            return (await broker.call(grant, request)).data

        assert await direct() == await brokered()  # same answer both ways
        for concurrency in args.concurrency:
            d_runs, b_runs = [], []
            for i in range(args.rounds):
                order = [("d", direct), ("b", brokered)] if i % 2 == 0 else [("b", brokered), ("d", direct)]
                for tag, fn in order:
                    (d_runs if tag == "d" else b_runs).append(await rate(fn, concurrency, args.seconds))
            d, b = statistics.median(d_runs), statistics.median(b_runs)
            print(
                f"concurrency {concurrency:>2}: direct {d:8.0f} calls/s   brokered {b:8.0f} calls/s   "
                f"brokered/direct {b / d:5.1%}   (overhead {1 - b / d:+.1%})"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=2.0, help="length of one measured round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per side (median reported)")
    parser.add_argument("--concurrency", type=lambda s: [int(x) for x in s.split(",")], default=[1, 8])
    parser.add_argument("--postgres", default=os.environ.get("DEPUTY_TEST_POSTGRES_URL"), help="vault on PostgreSQL")
    parser.add_argument("--skip-audit", action="store_true", help="only the brokered-call comparison")
    args = parser.parse_args()
    port = free_port()
    acme, access, refresh = start_acme(port)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            acme_url = f"http://localhost:{port}"
            settings = demo_settings(
                Path(tmp), deputy_url="http://127.0.0.1:9", acme_url=acme_url, acme_secret="x", port=9
            )
            run_backend("sqlite", settings, acme_url, access, refresh, args)
            if args.postgres:
                with scratch_schema(args.postgres) as url:
                    pg = settings.model_copy(update={"storage": settings.storage.model_copy(update={"url": url})})
                    run_backend("postgres", pg, acme_url, access, refresh, args)
    finally:
        acme.terminate()
        acme.wait(timeout=10)
    if not args.skip_audit:
        print("-- audit log (bench/audit.py)")
        extra = ["--postgres", args.postgres] if args.postgres else []
        subprocess.run([sys.executable, str(HERE / "audit.py"), *extra], check=True)


def run_backend(name: str, settings: Any, acme_url: str, access: str, refresh: str, args: argparse.Namespace) -> None:
    ctx = build_context(settings)
    try:
        seal_tokens(ctx, access, refresh)
        print(f"-- brokered vs direct GET {PATH} (vault on {name})")
        asyncio.run(measure(ctx, acme_url + "/api/v1", access, args))
    finally:
        ctx.store.db.dispose()


if __name__ == "__main__":
    main()
