"""GET /healthz (liveness) and GET /readyz (readiness), for load balancers and orchestrators.

Liveness answers from the process alone: a database outage must not get every instance restarted, which would
only add cold starts to the outage. Readiness says whether this instance can serve a request now: the database
answers within ``READY_TIMEOUT_SECONDS``, its schema is at the migration head this code expects (an instance
started against an older schema would fail on its first write), and the key ring is loaded. A failing check is
named in the body; causes go to the log, never to the response.

The database check runs in a daemon thread of its own (the driver blocks, and a hung connection attempt must not
hold up the process's exit) and at most one runs at a time: while a check hangs, the next probes report the
database unavailable at once rather than piling up threads and pool connections behind it.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Final

import anyio.to_thread
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

import deputy.storage
from deputy.service.context import ServiceContext
from deputy.storage.sql.engine import Database

__all__ = ["READY_TIMEOUT_SECONDS", "Readiness", "healthz"]

READY_TIMEOUT_SECONDS: Final = 2.0

_NO_STORE: Final = {"Cache-Control": "no-store"}
_DATABASE_DOWN: Final = {"database": "unavailable", "schema": "unknown"}
_MIGRATIONS: Final = Path(deputy.storage.__file__).parent / "migrations"

log = logging.getLogger("deputy.health")


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"}, headers=_NO_STORE)


def _migration_heads() -> frozenset[str]:
    return frozenset(ScriptDirectory(str(_MIGRATIONS)).get_heads())


def _check_database(db: Database, heads: frozenset[str]) -> dict[str, str]:
    try:
        if not db.ping():
            return dict(_DATABASE_DOWN)
        with db.engine.connect() as conn:
            current = frozenset(MigrationContext.configure(conn).get_current_heads())
        return {"database": "ok", "schema": "ok" if current == heads else "not_at_head"}
    except Exception as exc:  # reported as a failing check; only the type is logged (a message may hold a URL)
        log.warning("readiness: database check failed (%s)", type(exc).__name__)
        return dict(_DATABASE_DOWN)


def _start_check(db: Database, heads: frozenset[str]) -> Future[dict[str, str]]:
    future: Future[dict[str, str]] = Future()
    thread = threading.Thread(
        target=lambda: future.set_result(_check_database(db, heads)), name="deputy-readiness", daemon=True
    )
    thread.start()
    return future


class Readiness:
    """The /readyz endpoint for one service context."""

    def __init__(self, ctx: ServiceContext) -> None:
        self._ctx = ctx
        self._heads = _migration_heads()
        self._pending: Future[dict[str, str]] | None = None
        self._was_ready = True

    async def readyz(self, request: Request) -> Response:
        checks = {**await self._database(), "keys": "ok" if self._keys_loaded() else "missing"}
        failing = [name for name, state in checks.items() if state != "ok"]
        self._note(failing)
        if failing:
            body = {"status": "unavailable", "checks": checks, "failing": failing}
            return JSONResponse(body, status_code=503, headers={**_NO_STORE, "Retry-After": "1"})
        return JSONResponse({"status": "ready", "checks": checks}, headers=_NO_STORE)

    async def _database(self) -> dict[str, str]:
        if self._pending is not None and not self._pending.done():
            return dict(_DATABASE_DOWN)  # the previous check is still waiting for the database
        future = self._pending = _start_check(self._ctx.store.db, self._heads)
        try:
            return await anyio.to_thread.run_sync(future.result, READY_TIMEOUT_SECONDS)
        except TimeoutError:
            return dict(_DATABASE_DOWN)

    def _keys_loaded(self) -> bool:
        return all(self._ctx.keys.kids().values())

    def _note(self, failing: list[str]) -> None:
        """Log changes of state only: probes come every few seconds."""
        ready = not failing
        if ready != self._was_ready:
            self._was_ready = ready
            if ready:
                log.info("readiness: ready again")
            else:
                log.warning("readiness: not ready (%s)", ", ".join(failing))
