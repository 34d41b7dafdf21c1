"""``deputy migrate`` started by several instances at once against one fresh PostgreSQL schema: all succeed, once.

Rolling out N instances whose start-up scripts each run ``deputy migrate`` is the ordinary case; the PostgreSQL
advisory lock in ``Database.migrate`` is what keeps them from creating the same tables concurrently.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text

import deputy.storage
from support import minimal_config

pytestmark = pytest.mark.postgres

INSTANCES = 3


def _config(tmp_path: Path, url: str) -> Path:
    return minimal_config(tmp_path / "deputy.toml", storage_url=url, keys_file=tmp_path / "keys.json")


def test_three_concurrent_migrations_all_succeed_and_apply_once(tmp_path: Path, postgres_url: str) -> None:
    config = _config(tmp_path, postgres_url)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "deputy", "migrate", "--config", str(config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for _ in range(INSTANCES)
    ]
    outputs = [proc.communicate(timeout=120)[0].decode() for proc in procs]
    assert [proc.returncode for proc in procs] == [0] * INSTANCES, outputs
    assert all("schema is up to date" in out for out in outputs)

    head = ScriptDirectory(str(Path(deputy.storage.__file__).parent / "migrations")).get_current_head()
    engine = create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            versions = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
            tables = set(inspect(conn).get_table_names())
    finally:
        engine.dispose()
    assert versions == [head]
    assert {"clients", "audit_events", "alembic_version"} <= tables
