"""What the resource server knows about revocations, refreshed from storage at a bounded interval.

Every instance polls the shared database for grants and access tokens revoked since its last look, so a revocation
made on any instance is refused everywhere within ``interval`` seconds (plus one poll). The check itself is two set
lookups: cheap enough for every request.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import anyio

from deputy.service.context import ServiceContext

__all__ = ["RevocationCache"]

OVERLAP = 5  # seconds of overlap between polls, for clock skew between instances


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
        self._since: int | None = None
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
            since = self._since if self._since is not None else now - self._horizon()
            grants, jtis = await self._run(self._load, since)
            self._grants.update(grants)
            self._jtis.update(jtis)
            self._prune(now)
            self._since = now - OVERLAP
            self._loaded_at = started

    def _horizon(self) -> int:
        return self._ctx.settings.lifetimes.access_token + 60

    def _load(self, since: int) -> tuple[dict[str, int], dict[str, int]]:
        with self._ctx.store.read() as tx:
            return dict(tx.grants.revoked_since(since)), dict(tx.revocations.revoked_since(since))

    def _prune(self, now: int) -> None:
        horizon = now - self._horizon()
        self._grants = {g: at for g, at in self._grants.items() if at >= horizon}
        self._jtis = {j: exp for j, exp in self._jtis.items() if exp > now - 60}
