"""The request an audit entry belongs to, carried implicitly so that services need not pass it around.

Whoever handles a request binds its id once (``with bind_request_id(rid): ...``); every ``audit()`` call below,
in this task or in a worker thread started from it (anyio copies the context), records it. Audit entries written
later on another task's behalf (the group commit of tool calls) capture it when the event is queued.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["bind_request_id", "current_request_id"]

current_request_id: ContextVar[str | None] = ContextVar("deputy_request_id", default=None)


@contextmanager
def bind_request_id(request_id: str | None) -> Iterator[None]:
    """Record ``request_id`` on every audit entry written inside the block (and restore the outer one after)."""
    token = current_request_id.set(request_id)
    try:
        yield
    finally:
        current_request_id.reset(token)
