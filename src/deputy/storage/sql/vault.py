"""Rows of the credential vault. This module stores and returns ciphertext only; ``deputy.broker.vault`` is the
one place that encrypts and decrypts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import Connection, delete, func, or_, select, tuple_, update

from deputy.storage.sql._rows import upsert
from deputy.storage.sql.schema import upstream_credentials

__all__ = ["QUARANTINE_PREFIX", "SealedCredential", "SqlVault"]

QUARANTINE_PREFIX: Final = "x:"  # + purpose + ":" + time; the column is 32 characters wide


@dataclass(frozen=True)
class SealedCredential:
    user_id: str
    upstream: str
    purpose: str
    key_id: str
    ciphertext: bytes
    expires_at: int | None
    updated_at: int


class SqlVault:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def put(self, sealed: SealedCredential) -> None:
        values = {
            "user_id": sealed.user_id,
            "upstream": sealed.upstream,
            "purpose": sealed.purpose,
            "key_id": sealed.key_id,
            "ciphertext": sealed.ciphertext,
            "expires_at": sealed.expires_at,
            "updated_at": sealed.updated_at,
        }
        keys = ("user_id", "upstream", "purpose")
        upsert(self._c, upstream_credentials, values, keys, {k: v for k, v in values.items() if k not in keys})

    def get(self, user_id: str, upstream: str, purpose: str) -> SealedCredential | None:
        c = upstream_credentials.c
        row = self._c.execute(
            select(upstream_credentials).where(c.user_id == user_id, c.upstream == upstream, c.purpose == purpose)
        ).first()
        return None if row is None else _sealed(row)

    def take_lease(self, user_id: str, upstream: str, *, now: int, until: int) -> bool:
        """Claim the right to refresh this user's upstream credential, across processes and instances: one guarded
        UPDATE on the refresh-token row, so of N concurrent claimants exactly one gets it (or the lease expired)."""
        c = upstream_credentials.c
        result = self._c.execute(
            update(upstream_credentials)
            .where(
                c.user_id == user_id,
                c.upstream == upstream,
                c.purpose == "refresh_token",
                or_(c.lease_until.is_(None), c.lease_until < now),
            )
            .values(lease_until=until)
        )
        return result.rowcount == 1

    def release_lease(self, user_id: str, upstream: str) -> None:
        c = upstream_credentials.c
        self._c.execute(
            update(upstream_credentials)
            .where(c.user_id == user_id, c.upstream == upstream, c.purpose == "refresh_token")
            .values(lease_until=None)
        )

    def delete_for_user(self, user_id: str, upstream: str) -> int:
        c = upstream_credentials.c
        return int(
            self._c.execute(delete(upstream_credentials).where(c.user_id == user_id, c.upstream == upstream)).rowcount
        )

    # -- key rotation and integrity ------------------------------------------------------------------------------

    def count_by_key(self) -> dict[str, int]:
        """How many live entries each vault key still covers (quarantined entries are counted apart)."""
        c = upstream_credentials.c
        rows = self._c.execute(
            select(c.key_id, func.count()).where(c.purpose.not_like(QUARANTINE_PREFIX + "%")).group_by(c.key_id)
        )
        return {str(kid): int(n) for kid, n in rows}

    def count_quarantined(self) -> int:
        c = upstream_credentials.c
        stmt = select(func.count()).where(c.purpose.like(QUARANTINE_PREFIX + "%"))
        return int(self._c.execute(stmt).scalar_one())

    def sample(self, key_id: str, limit: int) -> list[SealedCredential]:
        """The most recently written entries under ``key_id``: the start-up check tries these with the ring."""
        c = upstream_credentials.c
        stmt = (
            select(upstream_credentials)
            .where(c.key_id == key_id, c.purpose.not_like(QUARANTINE_PREFIX + "%"))
            .order_by(c.updated_at.desc())
            .limit(limit)
        )
        return [_sealed(r) for r in self._c.execute(stmt)]

    def not_under(self, key_id: str, *, after: tuple[str, str, str] | None, limit: int) -> list[SealedCredential]:
        """Live entries sealed with any other key, in primary-key order from ``after`` (keyset pagination, so one
        pass visits each row once even when some cannot be re-encrypted)."""
        c = upstream_credentials.c
        stmt = select(upstream_credentials).where(c.key_id != key_id, c.purpose.not_like(QUARANTINE_PREFIX + "%"))
        if after is not None:
            stmt = stmt.where(tuple_(c.user_id, c.upstream, c.purpose) > tuple_(*after))
        stmt = stmt.order_by(c.user_id, c.upstream, c.purpose).limit(limit)
        return [_sealed(r) for r in self._c.execute(stmt)]

    def replace_if_unchanged(self, old: SealedCredential, new: SealedCredential) -> bool:
        """Compare-and-set: write ``new`` only if the row still holds ``old``'s ciphertext, so a re-encryption
        racing a refresh never puts back the credential the refresh just replaced."""
        c = upstream_credentials.c
        result = self._c.execute(
            update(upstream_credentials)
            .where(
                c.user_id == old.user_id,
                c.upstream == old.upstream,
                c.purpose == old.purpose,
                c.key_id == old.key_id,
                c.ciphertext == old.ciphertext,
            )
            .values(key_id=new.key_id, ciphertext=new.ciphertext)
        )
        return result.rowcount == 1

    def quarantine(self, sealed: SealedCredential, *, now: int) -> bool:
        """Move an entry that does not open out of use (renamed purpose), keeping its bytes for investigation.
        Guarded like ``replace_if_unchanged``: a concurrent rewrite of the row wins."""
        c = upstream_credentials.c
        result = self._c.execute(
            update(upstream_credentials)
            .where(
                c.user_id == sealed.user_id,
                c.upstream == sealed.upstream,
                c.purpose == sealed.purpose,
                c.ciphertext == sealed.ciphertext,
            )
            .values(purpose=f"{QUARANTINE_PREFIX}{sealed.purpose}:{now}", lease_until=None)
        )
        return result.rowcount == 1


def _sealed(row: Any) -> SealedCredential:
    return SealedCredential(
        row.user_id, row.upstream, row.purpose, row.key_id, bytes(row.ciphertext), row.expires_at, row.updated_at
    )
