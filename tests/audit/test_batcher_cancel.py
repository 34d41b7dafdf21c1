"""AuditBatcher: the request task that drains also writes the batches queued behind its own. When that task is
cancelled (its client went away), the batches queued behind it must still be written and their callers answered:
they must neither hang nor fail because of someone else's disconnect."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest

from deputy.audit.batch import AuditBatcher
from support import make_env

pytestmark = pytest.mark.anyio


async def test_a_cancelled_drainer_does_not_strand_the_next_batch(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    in_thread, release = threading.Event(), threading.Event()
    calls = 0

    async def run(fn: Callable[..., Any], *args: Any) -> Any:  # as Deps.run on PostgreSQL: a worker thread
        def work() -> Any:
            nonlocal calls
            calls += 1
            if calls == 1:
                in_thread.set()
                release.wait(5)  # the first batch's write is slow (a busy database)
            return fn(*args)

        return await anyio.to_thread.run_sync(work)

    batcher = AuditBatcher(env.ctx, run)
    stranded = False
    async with anyio.create_task_group() as tg:
        drainer = anyio.CancelScope()

        async def first() -> None:
            with drainer:
                await batcher.append("tool.called", client_id="c", user_id="u", tool="a")

        async def second() -> None:
            nonlocal stranded
            with anyio.move_on_after(3) as scope:
                await batcher.append("tool.called", client_id="c", user_id="u", tool="b")
            stranded = scope.cancelled_caught

        tg.start_soon(first)
        await anyio.to_thread.run_sync(in_thread.wait)
        tg.start_soon(second)  # queued behind the batch being written
        await anyio.sleep(0.05)
        drainer.cancel()  # the first request is cancelled (client disconnect)
        release.set()
    with env.ctx.store.read() as tx:
        written = [e["detail"]["tool"] for e in tx.audit.events("tool.called")]
    env.ctx.store.db.dispose()
    assert not stranded, "the second call hung: its audit event was never written and it was never told"
    assert written == ["a", "b"]  # both batches were written, the cancelled request's own included
