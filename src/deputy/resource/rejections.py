"""Rejected bearer tokens at the MCP endpoint, in the audit log as periodic summaries.

Every security decision belongs in the audit log (DESIGN.md invariant 7), but a refusal needs no authentication to
provoke: an entry per rejected request would let anyone grow the chain (and its one serialisation point) as fast as
they can send requests. So refusals are counted in memory by cause and written as one ``token.rejected`` entry per
``interval`` seconds in which any happened (counts by cause, and the window), plus a final one at shutdown. The
token itself is never recorded, not even a prefix.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any, Final

import anyio

from deputy.audit.log import audit
from deputy.service.context import ServiceContext

__all__ = ["RejectionTally"]

log = logging.getLogger("deputy.mcp")

MAX_CAUSES: Final = 32  # causes are fixed strings from the verifier; the bound is belt and braces


class RejectionTally:
    def __init__(self, ctx: ServiceContext, run: Callable[..., Awaitable[Any]], interval: float = 60.0) -> None:
        self._ctx = ctx
        self._run = run
        self.interval = interval
        self._counts: Counter[str] = Counter()
        self._since: int | None = None
        self._lock = threading.Lock()

    def note(self, cause: str) -> None:
        """Count one refusal (called on the request path: no I/O)."""
        with self._lock:
            if self._since is None:
                self._since = self._ctx.clock.now()
            if cause in self._counts or len(self._counts) < MAX_CAUSES:
                self._counts[cause[:32] or "unknown"] += 1
            else:
                self._counts["other"] += 1

    async def run(self) -> None:
        """Flush every ``interval`` seconds until cancelled, then once more (shielded) so nothing counted is lost."""
        try:
            while True:
                await anyio.sleep(self.interval)
                await self.flush()
        finally:
            with anyio.CancelScope(shield=True):
                await self.flush()

    async def flush(self) -> None:
        with self._lock:
            counts, since = dict(self._counts), self._since
            self._counts.clear()
            self._since = None
        if not counts or since is None:
            return
        try:
            await self._run(self._write, counts, since)
        except Exception:  # a summary that cannot be written is logged; the refusals themselves already happened
            log.exception("could not write the token.rejected summary")

    def _write(self, counts: dict[str, int], since: int) -> None:
        now = self._ctx.clock.now()
        with self._ctx.store.write() as tx:
            audit(
                tx.audit,
                "token.rejected",
                at=now,
                outcome="refused",
                total=sum(counts.values()),
                causes=dict(sorted(counts.items())),
                since=since,
                until=now,
            )
