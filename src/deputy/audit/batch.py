"""Group commit for audit events written off the request's own transaction (tool calls).

The first caller to arrive writes, after one scheduler tick so that requests already under way can join; callers
that arrive while a write is in flight are written together in the next transaction. Every caller waits until
*its* event is committed, so the rule "no audit entry, no action" still holds (a failed write raises in the
request whose event it was), while under concurrency N calls share one transaction instead of paying for N.
Each event keeps the request id bound where it was queued, not that of the task that happens to write the batch.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio

from deputy.audit.context import current_request_id
from deputy.audit.log import audit
from deputy.service.context import ServiceContext

__all__ = ["AuditBatcher", "AuditInterruptedError"]


class AuditInterruptedError(RuntimeError):
    """The task writing a batch was cancelled before it could say whether the batch was written; the actions the
    batch records fail (fail closed)."""


@dataclass
class _Batch:
    events: list[dict[str, Any]] = field(default_factory=list)
    done: anyio.Event = field(default_factory=anyio.Event)
    errors: dict[int, BaseException] = field(default_factory=dict)  # index in events -> why it was not written


class AuditBatcher:
    def __init__(self, ctx: ServiceContext, run: Callable[..., Awaitable[object]]) -> None:
        self._ctx = ctx
        self._run = run
        self._next = _Batch()
        self._writing = False
        self._idle = anyio.Event()
        self._idle.set()

    async def append(self, event: str, **fields: Any) -> None:
        """Raises:
        Exception: whatever made the write fail (the caller's action must then fail too).
        """
        batch = self._next
        index = len(batch.events)
        batch.events.append({"event": event, "request_id": current_request_id.get(), **fields})
        while not batch.done.is_set():
            if self._writing:  # someone else writes; if they stop (their request was cancelled), take over
                idle = self._idle
                await idle.wait()
            else:
                await self._drain()
        if index in batch.errors:
            raise batch.errors[index]

    async def _drain(self) -> None:
        self._writing = True
        self._idle = anyio.Event()
        current: _Batch | None = None
        try:
            # One scheduler tick before the first write: requests already under way reach ``append`` and join this
            # transaction. Without it, a synchronous (inline SQLite) write would always commit a batch of one.
            await anyio.sleep(0)
            while self._next.events:
                current, self._next = self._next, _Batch()
                # Shielded: the batch holds other requests' events, so this request's cancellation (its client
                # went away) must not abort it half-way; it is delivered once the queue is empty.
                with anyio.CancelScope(shield=True):
                    await self._write_batch(current)
                current.done.set()
                current = None
        finally:
            if current is not None:  # this task was cancelled mid-batch: its callers must not wait forever
                for i in range(len(current.events)):
                    current.errors.setdefault(i, AuditInterruptedError("the audit write was interrupted"))
                current.done.set()
            self._writing = False
            self._idle.set()  # waiters of the queued batch wake up and one of them drains it

    async def _write_batch(self, batch: _Batch) -> None:
        try:
            await self._run(self._write, batch.events)
        except Exception:  # one bad event must not fail the others: write them one by one
            for i, event in enumerate(batch.events):
                try:
                    await self._run(self._write, [event])
                except Exception as exc:  # handed to that event's caller only
                    batch.errors[i] = exc

    def _write(self, events: list[dict[str, Any]]) -> None:
        now = self._ctx.clock.now()
        with self._ctx.store.audit_only() as writer:
            for e in events:
                audit(writer, at=now, **e)
