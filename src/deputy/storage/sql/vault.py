"""Rows of the credential vault. This module stores and returns ciphertext only; ``deputy.broker.vault`` is the
one place that encrypts and decrypts."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, delete, or_, select, update

from deputy.storage.sql._rows import upsert
from deputy.storage.sql.schema import upstream_credentials

__all__ = ["SealedCredential", "SqlVault"]


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
        if row is None:
            return None
        return SealedCredential(
            row.user_id, row.upstream, row.purpose, row.key_id, bytes(row.ciphertext), row.expires_at, row.updated_at
        )

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
