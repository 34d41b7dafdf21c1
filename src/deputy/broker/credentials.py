"""The broker's credential source: upstream tokens from the vault, refreshed when expired or rejected.

Tool code never calls this; the brokered API client does, at the moment it sends one request, and puts the token
into exactly that request. One refresh per user at a time in this process (a lock per user); the rotated upstream
refresh token is stored in the same transaction that stores the new access token, so it cannot be lost.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio

from deputy.audit.log import audit
from deputy.broker.rotation import quarantine
from deputy.broker.vault import UnknownKeyError, VaultError, broker_vault
from deputy.resource.upstream_api import ToolCallError
from deputy.service.cache import BoundedCache
from deputy.service.context import ServiceContext
from deputy.storage.sql.vault import SealedCredential
from deputy.upstream.client import UpstreamClient, UpstreamError, UpstreamTokenResponse

__all__ = ["VaultCredentials"]

T = TypeVar("T")
ACCESS = "access_token"
REFRESH = "refresh_token"
EXPIRY_MARGIN = 30
LEASE_POLL = 0.05  # seconds between looks while another instance refreshes
SEALED_TTL = 5.0  # seconds a sealed access-token row is reused without reading the database


def _reauthorize() -> ToolCallError:
    return ToolCallError(
        "reauthorize",
        "The connection to the upstream service has expired or was revoked; the user must authorize again.",
    )


class VaultCredentials:
    def __init__(
        self,
        ctx: ServiceContext,
        upstream: Callable[[], Awaitable[UpstreamClient]],
        run: Callable[..., Awaitable[object]],
    ) -> None:
        self._ctx = ctx
        self._upstream = upstream
        self._run = run
        self._locks: dict[str, anyio.Lock] = {}
        self._vault = broker_vault(ctx.vault)
        # Ciphertext only, per user, briefly: saves the database read on the hot path (see deputy.service.cache).
        self._sealed: BoundedCache[str, SealedCredential] = BoundedCache(10_000, SEALED_TTL)

    @property
    def _name(self) -> str:
        return self._ctx.settings.upstream.name

    def _open(self, user_id: str, purpose: str) -> tuple[str, int | None] | None:
        with self._ctx.store.read() as tx:
            sealed = tx.vault.get(user_id, self._name, purpose)
        if sealed is None:
            return None
        secret = self._decrypt(sealed)
        return None if secret is None else (secret, sealed.expires_at)

    def _decrypt(self, sealed: SealedCredential) -> str | None:
        """The entry's secret; None for an entry that is corrupt or foreign (reported and quarantined: the user
        re-authorizes).

        Raises:
            ToolCallError: ``unavailable`` for an entry under a key this instance does not hold yet (a rolling
                rotation: retrying later succeeds; quarantining would lose the user's grant).
        """
        try:
            return self._vault.open(sealed)
        except UnknownKeyError:
            raise ToolCallError("unavailable", "Deputy's keys are being rotated; retry in a few seconds.") from None
        except VaultError:
            self._sealed.pop(sealed.user_id)
            quarantine(self._ctx.store, sealed, now=self._ctx.clock.now())
            return None

    def _read(self, user_id: str, purpose: str) -> SealedCredential | None:
        with self._ctx.store.read() as tx:
            return tx.vault.get(user_id, self._name, purpose)

    async def access_token(self, user_id: str) -> str:
        """The user's upstream access token, decrypted for one request (refreshed first if it is about to expire).

        Raises:
            ToolCallError: ``reauthorize`` when there is no usable credential.
        """
        sealed = self._sealed.get(user_id)
        if sealed is None:
            sealed = await self._call(self._read, user_id, ACCESS)
            if sealed is None:
                raise _reauthorize()
            self._sealed.put(user_id, sealed)
        try:
            token = self._vault.open(sealed)
        except VaultError:  # the rare path: classify, and quarantine (storage I/O) if it is corruption
            found = await self._call(self._decrypt, sealed)
            if found is None:
                raise _reauthorize() from None
            token = found
        if sealed.expires_at is not None and sealed.expires_at - EXPIRY_MARGIN <= self._ctx.clock.now():
            return await self.refreshed_access_token(user_id, stale=token)
        return token

    async def refreshed_access_token(self, user_id: str, stale: str | None = None) -> str:
        """Refresh once, across every process and instance: a lease on the refresh-token row (one guarded UPDATE)
        decides who refreshes; the others wait for the new access token instead of presenting the same refresh
        token again (which a rotating upstream would treat as reuse and answer by revoking the grant).

        Raises:
            ToolCallError: ``reauthorize`` (no refresh token, or the upstream refused it), ``unavailable``.
        """
        self._sealed.pop(user_id)  # whatever happens next, the cached row is no longer the one to use
        lock = self._locks.setdefault(user_id, anyio.Lock())
        async with lock:  # callers in this process queue here instead of polling the database
            before = await self._call(self._snapshot, user_id)
            if stale is not None and before is not None and before[0] != stale:
                return before[0]  # someone refreshed since the caller read its token
            if not await self._wait_for_lease(user_id, before):
                current = await self._call(self._snapshot, user_id)
                if current is None:
                    raise _reauthorize()
                return current[0]
            try:
                return await self._refresh_with_lease(user_id, before)
            finally:
                await self._call(self._release, user_id)

    async def _wait_for_lease(self, user_id: str, before: tuple[str, bytes] | None) -> bool:
        """True once this caller holds the lease; False when another holder finished the refresh meanwhile.

        Raises:
            ToolCallError: ``unavailable`` if the other holder neither finishes nor lets its lease lapse in time.
        """
        deadline = time.monotonic() + self._lease_seconds() + 2
        while not await self._call(self._take_lease, user_id):
            current = await self._call(self._snapshot, user_id)
            if current is not None and (before is None or current[1] != before[1]):
                return False
            if await self._call(self._read, user_id, REFRESH) is None:
                raise _reauthorize()  # no refresh token at all (a provider without them): nothing to wait for
            if time.monotonic() > deadline:
                raise ToolCallError("unavailable", "The upstream service is unavailable.")
            await anyio.sleep(LEASE_POLL)
        return True

    async def _refresh_with_lease(self, user_id: str, before: tuple[str, bytes] | None) -> str:
        current = await self._call(self._snapshot, user_id)
        if current is not None and before is not None and current[1] != before[1]:
            return current[0]  # refreshed by another instance between our snapshot and our lease
        refresh = await self._call(self._open, user_id, REFRESH)
        if refresh is None:
            raise _reauthorize()
        upstream = await self._upstream()
        try:
            tokens = await upstream.refresh(refresh[0])
        except UpstreamError as exc:
            if exc.unavailable:
                raise ToolCallError("unavailable", "The upstream service is unavailable.") from None
            await self._call(self._record_refused, user_id, exc.error, refresh[0])
            if exc.error == "invalid_grant":
                raise ToolCallError(
                    "reauthorize",
                    f"{self._name} no longer accepts this user's authorization (it was revoked or expired there); "
                    "the user must authorize again.",
                ) from None
            raise _reauthorize() from None
        await self._call(self._store, user_id, tokens)
        return tokens.access_token

    def _lease_seconds(self) -> int:
        return int(self._ctx.settings.upstream.timeout_seconds) + 5

    def _snapshot(self, user_id: str) -> tuple[str, bytes] | None:
        """The current access token and its ciphertext: a fresh nonce on every write makes the ciphertext a version
        stamp that changes with each refresh, even within one clock second."""
        with self._ctx.store.read() as tx:
            sealed = tx.vault.get(user_id, self._name, ACCESS)
        if sealed is None:
            return None
        secret = self._decrypt(sealed)
        return None if secret is None else (secret, sealed.ciphertext)

    def _take_lease(self, user_id: str) -> bool:
        now = self._ctx.clock.now()
        with self._ctx.store.write() as tx:
            return tx.vault.take_lease(user_id, self._name, now=now, until=now + self._lease_seconds())

    def _release(self, user_id: str) -> None:
        with self._ctx.store.write() as tx:
            tx.vault.release_lease(user_id, self._name)

    async def _call(self, fn: Callable[..., T], *args: object) -> T:
        return await self._run(fn, *args)  # type: ignore[return-value]

    def _store(self, user_id: str, tokens: UpstreamTokenResponse) -> None:
        now = self._ctx.clock.now()
        vault = self._ctx.vault
        with self._ctx.store.write() as tx:
            expires_at = now + tokens.expires_in if tokens.expires_in else None
            tx.vault.put(
                vault.seal(
                    user_id=user_id,
                    upstream=self._name,
                    purpose=ACCESS,
                    secret=tokens.access_token,
                    expires_at=expires_at,
                    now=now,
                )
            )
            if tokens.refresh_token:  # a provider that does not rotate keeps the old refresh token valid
                tx.vault.put(
                    vault.seal(
                        user_id=user_id,
                        upstream=self._name,
                        purpose=REFRESH,
                        secret=tokens.refresh_token,
                        expires_at=None,
                        now=now,
                    )
                )
            audit(tx.audit, "broker.upstream_refreshed", at=now, user_id=user_id, upstream=self._name)

    def _still(self, sealed: SealedCredential, secret: str) -> bool:
        """Whether the row still holds ``secret`` (a new authorization may have replaced it meanwhile)."""
        try:
            return hmac.compare_digest(self._vault.open(sealed), secret)
        except VaultError:
            return False

    def _record_refused(self, user_id: str, error: str, refused: str) -> None:
        """An ``invalid_grant`` means the user's upstream grant is gone (revoked upstream, or expired): its tokens
        are dead, so they are deleted, and the user's consents are marked as needing a new authorization."""
        now = self._ctx.clock.now()
        with self._ctx.store.write() as tx:
            current = tx.vault.get(user_id, self._name, REFRESH)
            if error == "invalid_grant" and current is not None and self._still(current, refused):
                tx.vault.delete_for_user(user_id, self._name)
                marked = tx.consents.mark_reauth_required(user_id, now=now)
                audit(
                    tx.audit,
                    "broker.upstream_grant_revoked",
                    at=now,
                    outcome="refused",
                    user_id=user_id,
                    upstream=self._name,
                    consents_marked=marked,
                )
            audit(
                tx.audit,
                "broker.upstream_refresh_refused",
                at=now,
                outcome="refused",
                user_id=user_id,
                upstream=self._name,
                error=error[:64],
            )
