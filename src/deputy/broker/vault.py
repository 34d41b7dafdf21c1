"""AES-256-GCM sealing of upstream credentials, bound to their row by associated data.

The associated data is ``user|upstream|purpose|key id``: a ciphertext copied into another user's row (or another
purpose's) fails authentication instead of decrypting. The newest vault key seals; any key in the ring opens.
This is the only module that imports ``cryptography.hazmat``, and only modules of ``deputy.broker`` may import it
(a ruff ``banned-api`` rule; the composition root in ``deputy.app`` builds it and hands the rest of the service
layer the seal-only ``CredentialSealer`` view).

The ciphers are looked up by key id in the live key ring, so a ring reloaded after ``deputy keys rotate`` is used
at once; an unknown key id first asks ``on_unknown_key`` to reload (another instance may have rotated and
re-encrypted before this one noticed the new file).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from deputy.errors import DeputyError
from deputy.keys import KeyRing
from deputy.storage.sql.vault import SealedCredential

__all__ = ["UnknownKeyError", "UpstreamTokens", "Vault", "VaultError", "broker_vault"]

NONCE_BYTES = 12


class VaultError(DeputyError):
    """A sealed entry could not be opened (unknown key, tampered or moved ciphertext)."""


class UnknownKeyError(VaultError):
    """The entry names a key this instance does not hold (yet): during a rolling rotation that is normal, not
    corruption, so callers retry later instead of quarantining the entry."""


@dataclass(frozen=True)
class UpstreamTokens:
    access_token: str
    refresh_token: str | None
    expires_at: int | None


def _flow_subkey(key: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"deputy vault: flow secrets").derive(key)


def _aad(user_id: str, upstream: str, purpose: str, key_id: str) -> bytes:
    return "|".join((user_id, upstream, purpose, key_id)).encode()


class Vault:
    """Seals and opens credential rows; storage is the caller's business (see ``deputy.storage.sql.vault``)."""

    def __init__(self, keys: KeyRing, *, on_unknown_key: Callable[[], bool] | None = None) -> None:
        self._ring = keys
        self._ciphers: dict[tuple[str, bytes, bool], AESGCM] = {}
        self._on_unknown_key = on_unknown_key

    @property
    def current_kid(self) -> str:
        return self._ring.vault[-1].kid

    def _cipher(self, kid: str, *, flow: bool = False) -> AESGCM | None:
        """The cipher for vault key ``kid``; ``flow`` selects the subkey for flow secrets (``seal_bytes``), derived
        with HKDF so that nothing sealed for the flow table can open a credential row, or the reverse, whatever
        context string a caller passes."""
        for _ in range(2):
            for k in self._ring.vault:
                if k.kid == kid:
                    cipher = self._ciphers.get((kid, k.key, flow))
                    if cipher is None:
                        key = _flow_subkey(k.key) if flow else k.key
                        cipher = self._ciphers[(kid, k.key, flow)] = AESGCM(key)
                    return cipher
            if self._on_unknown_key is None or not self._on_unknown_key():
                return None
        return None

    def _sealing(self) -> tuple[str, AESGCM]:
        kid = self.current_kid
        cipher = self._cipher(kid)
        if cipher is None:  # pragma: no cover - the current key is in the ring by definition
            raise VaultError("the current vault key is missing from the ring")
        return kid, cipher

    def seal(
        self, *, user_id: str, upstream: str, purpose: str, secret: str, expires_at: int | None, now: int
    ) -> SealedCredential:
        nonce = secrets.token_bytes(NONCE_BYTES)
        kid, cipher = self._sealing()
        ct = cipher.encrypt(nonce, secret.encode(), _aad(user_id, upstream, purpose, kid))
        return SealedCredential(user_id, upstream, purpose, kid, nonce + ct, expires_at, now)

    def open(self, sealed: SealedCredential) -> str:
        """Raises:
        VaultError: unknown key id, or the ciphertext does not authenticate for this row.
        """
        cipher = self._cipher(sealed.key_id)
        if cipher is None:
            raise UnknownKeyError(f"vault entry sealed with unknown key {sealed.key_id}")
        nonce, ct = sealed.ciphertext[:NONCE_BYTES], sealed.ciphertext[NONCE_BYTES:]
        try:
            aad = _aad(sealed.user_id, sealed.upstream, sealed.purpose, sealed.key_id)
            return cipher.decrypt(nonce, ct, aad).decode()
        except (InvalidTag, ValueError) as exc:
            raise VaultError("vault entry does not authenticate for its row") from exc

    def seal_bytes(self, context: str, secret: str) -> bytes:
        """Short-lived secrets kept in other tables (the upstream PKCE verifier), bound to ``context``, under the
        flow subkey (see ``_cipher``)."""
        nonce = secrets.token_bytes(NONCE_BYTES)
        kid = self.current_kid
        cipher = self._cipher(kid, flow=True)
        if cipher is None:  # pragma: no cover - the current key is in the ring by definition
            raise VaultError("the current vault key is missing from the ring")
        return kid.encode() + b"." + nonce + cipher.encrypt(nonce, secret.encode(), f"{context}|{kid}".encode())

    def open_bytes(self, context: str, blob: bytes) -> str:
        """Raises:
        VaultError: as ``open``.
        """
        kid, _, rest = blob.partition(b".")
        cipher = self._cipher(kid.decode(errors="replace"), flow=True)
        if cipher is None or len(rest) <= NONCE_BYTES:
            raise VaultError("sealed value uses an unknown key")
        try:
            aad = f"{context}|{kid.decode()}".encode()
            return cipher.decrypt(rest[:NONCE_BYTES], rest[NONCE_BYTES:], aad).decode()
        except (InvalidTag, ValueError) as exc:
            raise VaultError("sealed value does not authenticate") from exc


def broker_vault(sealer: object) -> Vault:
    """The full vault behind the service context's seal-only view; for ``deputy.broker`` modules only.

    Raises:
        TypeError: the context was built with something else (a wiring mistake, never user input).
    """
    if not isinstance(sealer, Vault):
        raise TypeError("the service context's vault is not a deputy.broker.vault.Vault")
    return sealer
