"""What the resource server knows about revocations, refreshed from storage at a bounded interval.

Every instance re-reads, at most every ``interval`` seconds, the grants and access tokens revoked within the last
access-token lifetime (older revocations cannot matter: every token they cover has expired). Re-reading the whole
window rather than "since the last poll" means no revocation is missed whatever the clock skew between instances
or the delay between a revocation's timestamp and its commit. The check itself is two set lookups.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import anyio

from deputy.service.context import ServiceContext

__all__ = ["RevocationCache"]

SKEW = 300  # seconds: tolerated clock skew between instances, added to the window


class RevocationCache:
    def __init__(
        self,
        ctx: ServiceContext,
        run: Callable[..., Awaitable[tuple[dict[str, int], dict[str, int]]]],
        *,
        interval: float = 0.5,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ctx = ctx
        self._run = run
        self.interval = interval
        self.monotonic = monotonic
        self._grants: dict[str, int] = {}  # grant_id -> revoked_at
        self._jtis: dict[str, int] = {}  # jti -> expires_at
        self._loaded_at = float("-inf")
        self._lock = anyio.Lock()

    def is_revoked(self, jti: str, grant_id: str) -> bool:
        return jti in self._jtis or grant_id in self._grants

    async def ensure_fresh(self) -> None:
        """Poll storage if the last poll is older than ``interval``; concurrent callers share one poll."""
        if self.monotonic() - self._loaded_at < self.interval:
            return
        async with self._lock:
            if self.monotonic() - self._loaded_at < self.interval:
                return
            started = self.monotonic()
            now = self._ctx.clock.now()
            grants, jtis = await self._run(self._load, now - self._horizon())
            self._grants, self._jtis = grants, jtis
            self._loaded_at = started

    def _horizon(self) -> int:
        return self._ctx.settings.lifetimes.access_token + 60 + SKEW

    def _load(self, since: int) -> tuple[dict[str, int], dict[str, int]]:
        with self._ctx.store.read() as tx:
            return dict(tx.grants.revoked_since(since)), dict(tx.revocations.revoked_since(since))
