"""Each audit entry records the request it belongs to: bound once per request, carried to every ``audit()`` call,
and kept per event when tool calls are written together by the group commit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import pytest

from deputy.audit.batch import AuditBatcher
from deputy.audit.context import bind_request_id, current_request_id
from deputy.audit.log import REQUEST_ID_MAX, audit
from support import Env


class Recorder:
    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []

    def append(self, **entry: Any) -> None:
        self.entries.append(entry)


def test_bind_request_id_nests_and_restores() -> None:
    assert current_request_id.get() is None
    with bind_request_id("outer"):
        with bind_request_id("inner"):
            assert current_request_id.get() == "inner"
        assert current_request_id.get() == "outer"
    assert current_request_id.get() is None


def test_audit_takes_the_bound_request_id_unless_given_one() -> None:
    log = Recorder()
    audit(log, "a", at=1)
    with bind_request_id("req-1"):
        audit(log, "b", at=1)
        audit(log, "c", at=1, request_id="explicit")
    assert [e["request_id"] for e in log.entries] == [None, "req-1", "explicit"]


def test_a_client_chosen_request_id_is_bounded_and_scrubbed() -> None:
    log = Recorder()
    with bind_request_id("x" * 1000):
        audit(log, "a", at=1)
    with bind_request_id("eyJhbGciOiJFUzI1NiJ9.payload"):
        audit(log, "b", at=1)
    assert log.entries[0]["request_id"] == "x" * REQUEST_ID_MAX
    assert "eyJhbGciOiJFUzI1NiJ9" not in log.entries[1]["request_id"]


@pytest.mark.anyio
async def test_batched_tool_events_keep_their_own_request_ids(env: Env) -> None:
    async def run(fn: Callable[..., object], *args: object) -> object:
        return fn(*args)

    batcher = AuditBatcher(env.ctx, run)

    async def call(rid: str) -> None:
        with bind_request_id(rid):
            await batcher.append("tool.called", client_id="dcl_a", user_id="usr_a", tool="whoami")

    async with anyio.create_task_group() as tg:
        for i in range(5):
            tg.start_soon(call, f"req-{i}")
    with env.ctx.store.read() as tx:
        rows = tx.conn.exec_driver_sql("SELECT request_id FROM audit_events WHERE event = 'tool.called'").all()
    assert sorted(r[0] for r in rows) == [f"req-{i}" for i in range(5)]
