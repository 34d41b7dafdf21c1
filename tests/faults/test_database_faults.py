"""The database failing under a running Deputy: PostgreSQL unreachable for a moment, SQLite on a full disk.

Requests fail with 503 and an RFC 6749-style JSON body (``temporarily_unavailable``), never a 500; nothing is half
written (a refresh token presented during the outage is not spent, a failed registration leaves no client); and
service resumes without a restart once the database is back.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fault_proxy import FaultProxy
from fault_world import start_world
from full_disk import TinyDisk
from sqlalchemy import create_engine, func, select
from sqlalchemy.engine import make_url

from clientside import call_tool, refresh, register, tool_json, tool_result
from deputy.storage.sql.schema import clients
from headless import obtain_tokens

pytestmark = pytest.mark.anyio

MAX_FILL_REQUESTS = 3000


def _unavailable(response: httpx.Response) -> bool:
    return response.status_code == 503 and response.json().get("error") == "temporarily_unavailable"


@pytest.fixture
def pg_proxy(postgres_url: str) -> Iterator[tuple[FaultProxy, str]]:
    """A fault proxy in front of PostgreSQL, and the test schema's URL through it."""
    url = make_url(postgres_url)
    proxy = FaultProxy(url.host or "127.0.0.1", url.port or 5432)
    try:
        yield proxy, url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    finally:
        proxy.stop()


@pytest.mark.postgres
async def test_postgresql_unreachable_for_a_moment(
    tmp_path: Path, postgres_url: str, pg_proxy: tuple[FaultProxy, str]
) -> None:
    proxy, through_proxy = pg_proxy
    direct = create_engine(postgres_url)
    with start_world(tmp_path, through_proxy) as world:
        tokens = await obtain_tokens(world.deputy_url, scope="crm.read")
        async with httpx.AsyncClient(timeout=30) as http:
            proxy.set_mode("down")
            outage = [
                await register(http, world.deputy_url),
                await refresh(http, world.deputy_url, tokens["client_id"], tokens["refresh_token"]),
                await http.get(world.deputy_url + "/readyz"),
                await call_tool(http, world.deputy_url, tokens["access_token"], "contacts_get", {"id": "con_1001"}),
            ]
            proxy.set_mode("pass")
            registered = await register(http, world.deputy_url)
            rotated = await refresh(http, world.deputy_url, tokens["client_id"], tokens["refresh_token"])
            called = await call_tool(http, world.deputy_url, rotated.json()["access_token"], "deputy_whoami")
    with direct.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(clients)).scalar_one()
    direct.dispose()
    assert _unavailable(outage[0]) and _unavailable(outage[1]), [r.text for r in outage]
    assert outage[2].status_code == 503 and outage[2].json()["checks"]["database"] == "unavailable"
    assert _unavailable(outage[3]), outage[3].text
    assert registered.status_code == 201 and rotated.status_code == 200, (registered.text, rotated.text)
    assert not tool_result(called)[0]
    assert stored == 2  # the flow's client and the one registered after the outage


async def _fill_until_refused(http: httpx.AsyncClient, base: str) -> httpx.Response:
    for _ in range(MAX_FILL_REQUESTS):
        r = await register(http, base)
        if r.status_code != 201:
            return r
    raise AssertionError(f"still registering after {MAX_FILL_REQUESTS} requests on a full disk")


async def test_sqlite_on_a_full_disk(tmp_path: Path) -> None:
    disk = TinyDisk(tmp_path / "disk")
    database = disk.directory / "deputy.db"
    try:
        with start_world(tmp_path, f"sqlite:///{database}") as world:
            tokens = await obtain_tokens(world.deputy_url, scope="crm.read")
            async with httpx.AsyncClient(timeout=30) as http:
                disk.fill(world.ctx.store.db.engine, database)
                refused = await _fill_until_refused(http, world.deputy_url)
                during = await refresh(http, world.deputy_url, tokens["client_id"], tokens["refresh_token"])
                tool = await call_tool(
                    http, world.deputy_url, tokens["access_token"], "contacts_get", {"id": "con_1001"}
                )
                integrity = _integrity(database)
                disk.free()
                rotated = await refresh(http, world.deputy_url, tokens["client_id"], tokens["refresh_token"])
                healed = await call_tool(http, world.deputy_url, rotated.json()["access_token"], "contacts_get",
                                         {"id": "con_1001"})  # fmt: skip
                earlier = _client_exists(database, tokens["client_id"])
    finally:
        disk.close()
    print(f"\nfull disk simulated with {disk.how}")
    assert _unavailable(refused), refused.text
    assert _unavailable(during), during.text  # and the refresh token is not spent: see `rotated`
    assert _unavailable(tool), tool.text  # its audit entry could not be written: fail closed, as a 503
    assert integrity == "ok"
    assert earlier
    assert rotated.status_code == 200, rotated.text
    assert tool_json(healed)["id"] == "con_1001"


def _integrity(database: Path) -> str:
    with contextlib.closing(sqlite3.connect(database)) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


def _client_exists(database: Path, client_id: str) -> bool:
    with contextlib.closing(sqlite3.connect(database)) as conn:
        return conn.execute("SELECT 1 FROM clients WHERE client_id = ?", (client_id,)).fetchone() is not None
