"""/healthz answers from the process alone; /readyz names the check that fails (database, schema, keys)."""

from __future__ import annotations

import dataclasses
import socket
from pathlib import Path

import pytest
from sqlalchemy import text

from deputy.app import create_app
from deputy.storage.sql.engine import Database
from deputy.storage.sql.store import SqlStore
from support import Env, make_env

pytestmark = pytest.mark.anyio


def _closed_loopback_port() -> int:
    """A loopback port nothing listens on: bound, never listened to, so a connection attempt is refused."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    sock.close()
    return port


@pytest.fixture
def unreachable_db_env(env: Env) -> Env:
    """The same Deputy, but its database is a PostgreSQL server that refuses connections."""
    db = Database(f"postgresql+psycopg://deputy@127.0.0.1:{_closed_loopback_port()}/deputy?connect_timeout=2")
    ctx = dataclasses.replace(env.ctx, store=SqlStore(db, env.ctx.keys))
    app = create_app(env.settings, ctx=ctx, http=env.app.state.deps.http)  # type: ignore[attr-defined]
    return dataclasses.replace(env, ctx=ctx, app=app)


async def test_liveness_is_ok_without_touching_the_database(unreachable_db_env: Env) -> None:
    async with unreachable_db_env.api() as api:
        r = await api.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    assert r.headers["cache-control"] == "no-store"


async def test_ready_when_database_schema_and_keys_are_fine(tmp_path: Path, db_url: str) -> None:
    env = make_env(tmp_path, db_url)
    try:
        async with env.api() as api:  # no credentials, from a remote address: probes need neither
            r = await api.get("/readyz")
    finally:
        env.ctx.store.db.dispose()
    assert r.status_code == 200
    assert r.json() == {"status": "ready", "checks": {"database": "ok", "schema": "ok", "keys": "ok"}}
    assert r.headers["cache-control"] == "no-store"


async def test_not_ready_when_the_database_does_not_answer(unreachable_db_env: Env) -> None:
    async with unreachable_db_env.api() as api:
        r = await api.get("/readyz")
    assert r.status_code == 503
    body = r.json()
    assert body["failing"] == ["database", "schema"]
    assert body["checks"] == {"database": "unavailable", "schema": "unknown", "keys": "ok"}
    assert r.headers["cache-control"] == "no-store"
    assert "Traceback" not in r.text and "127.0.0.1" not in r.text and "psycopg" not in r.text


async def test_not_ready_when_the_schema_is_not_at_the_migration_head(env: Env) -> None:
    with env.ctx.store.db.write() as conn:  # as if the schema were an older one
        head = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
        conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    async with env.api() as api:
        r = await api.get("/readyz")
    assert r.status_code == 503
    assert r.json()["failing"] == ["schema"]
    assert r.json()["checks"]["schema"] == "not_at_head"
    with env.ctx.store.db.write() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": head})
    async with env.api() as api:
        assert (await api.get("/readyz")).status_code == 200
