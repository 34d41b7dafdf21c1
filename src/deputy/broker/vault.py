"""AES-256-GCM sealing of upstream credentials, bound to their row by associated data.

The associated data is ``user|upstream|purpose|key id``: a ciphertext copied into another user's row (or another
purpose's) fails authentication instead of decrypting. The newest vault key seals; any key in the ring opens.
This is the only module that imports ``cryptography.hazmat``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from deputy.errors import DeputyError
from deputy.keys import KeyRing
from deputy.storage.sql.vault import SealedCredential

__all__ = ["UpstreamTokens", "Vault", "VaultError"]

NONCE_BYTES = 12


class VaultError(DeputyError):
    """A sealed entry could not be opened (unknown key, tampered or moved ciphertext)."""


@dataclass(frozen=True)
class UpstreamTokens:
    access_token: str
    refresh_token: str | None
    expires_at: int | None


def _aad(user_id: str, upstream: str, purpose: str, key_id: str) -> bytes:
    return "|".join((user_id, upstream, purpose, key_id)).encode()


class Vault:
    """Seals and opens credential rows; storage is the caller's business (see ``deputy.storage.sql.vault``)."""

    def __init__(self, keys: KeyRing) -> None:
        self._keys = {k.kid: AESGCM(k.key) for k in keys.vault}
        self._current = keys.vault[-1].kid

    def seal(
        self, *, user_id: str, upstream: str, purpose: str, secret: str, expires_at: int | None, now: int
    ) -> SealedCredential:
        nonce = secrets.token_bytes(NONCE_BYTES)
        aad = _aad(user_id, upstream, purpose, self._current)
        ct = self._keys[self._current].encrypt(nonce, secret.encode(), aad)
        return SealedCredential(user_id, upstream, purpose, self._current, nonce + ct, expires_at, now)

    def open(self, sealed: SealedCredential) -> str:
        """Raises:
        VaultError: unknown key id, or the ciphertext does not authenticate for this row.
        """
        cipher = self._keys.get(sealed.key_id)
        if cipher is None:
            raise VaultError(f"vault entry sealed with unknown key {sealed.key_id}")
        nonce, ct = sealed.ciphertext[:NONCE_BYTES], sealed.ciphertext[NONCE_BYTES:]
        try:
            aad = _aad(sealed.user_id, sealed.upstream, sealed.purpose, sealed.key_id)
            return cipher.decrypt(nonce, ct, aad).decode()
        except (InvalidTag, ValueError) as exc:
            raise VaultError("vault entry does not authenticate for its row") from exc

    def seal_bytes(self, context: str, secret: str) -> bytes:
        """Short-lived secrets kept in other tables (the upstream PKCE verifier), bound to ``context``."""
        nonce = secrets.token_bytes(NONCE_BYTES)
        aad = f"{context}|{self._current}".encode()
        return self._current.encode() + b"." + nonce + self._keys[self._current].encrypt(nonce, secret.encode(), aad)

    def open_bytes(self, context: str, blob: bytes) -> str:
        """Raises:
        VaultError: as ``open``.
        """
        kid, _, rest = blob.partition(b".")
        cipher = self._keys.get(kid.decode(errors="replace"))
        if cipher is None or len(rest) <= NONCE_BYTES:
            raise VaultError("sealed value uses an unknown key")
        try:
            aad = f"{context}|{kid.decode()}".encode()
            return cipher.decrypt(rest[:NONCE_BYTES], rest[NONCE_BYTES:], aad).decode()
        except (InvalidTag, ValueError) as exc:
            raise VaultError("sealed value does not authenticate") from exc
