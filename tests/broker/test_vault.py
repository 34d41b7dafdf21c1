"""The vault: AES-256-GCM with associated data binding each ciphertext to its row."""

from __future__ import annotations

import dataclasses

import pytest

from deputy.broker.vault import Vault, VaultError
from deputy.keys import KeyRing


def test_seal_and_open_round_trip() -> None:
    vault = Vault(KeyRing.generate(1))
    sealed = vault.seal(
        user_id="u1", upstream="acme", purpose="access_token", secret="acme_at_x", expires_at=None, now=1
    )
    assert b"acme_at_x" not in sealed.ciphertext
    assert vault.open(sealed) == "acme_at_x"


@pytest.mark.parametrize("field", ["user_id", "upstream", "purpose"])
def test_ciphertext_moved_to_another_row_does_not_open(field: str) -> None:
    vault = Vault(KeyRing.generate(1))
    sealed = vault.seal(user_id="u1", upstream="acme", purpose="access_token", secret="s", expires_at=None, now=1)
    moved = dataclasses.replace(sealed, **{field: "other"})
    with pytest.raises(VaultError):
        vault.open(moved)


def test_old_key_still_opens_after_rotation_and_new_key_seals() -> None:
    ring = KeyRing.generate(1)
    sealed = Vault(ring).seal(user_id="u", upstream="a", purpose="p", secret="s", expires_at=None, now=1)
    rotated = Vault(ring.rotated("vault", 2))
    assert rotated.open(sealed) == "s"
    assert (
        rotated.seal(user_id="u", upstream="a", purpose="p", secret="s", expires_at=None, now=2).key_id != sealed.key_id
    )


def test_tampered_or_foreign_ciphertext_does_not_open() -> None:
    vault = Vault(KeyRing.generate(1))
    sealed = vault.seal(user_id="u", upstream="a", purpose="p", secret="s", expires_at=None, now=1)
    flipped = dataclasses.replace(sealed, ciphertext=sealed.ciphertext[:-1] + bytes([sealed.ciphertext[-1] ^ 1]))
    with pytest.raises(VaultError):
        vault.open(flipped)
    with pytest.raises(VaultError):
        Vault(KeyRing.generate(1)).open(sealed)


def test_sealed_bytes_are_bound_to_their_context() -> None:
    vault = Vault(KeyRing.generate(1))
    blob = vault.seal_bytes("flow|a", "verifier")
    assert vault.open_bytes("flow|a", blob) == "verifier"
    with pytest.raises(VaultError):
        vault.open_bytes("flow|b", blob)


def test_flow_secrets_cannot_be_used_to_open_credential_rows() -> None:
    """``open_bytes`` is reachable from the service layer (flow secrets); with the context string chosen to match a
    credential row's associated data it would be a decryption oracle, were both sealed under the same key."""
    vault = Vault(KeyRing.generate(1))
    sealed = vault.seal(user_id="u", upstream="a", purpose="access_token", secret="acme_at_x", expires_at=None, now=1)
    forged = sealed.key_id.encode() + b"." + sealed.ciphertext
    with pytest.raises(VaultError):
        vault.open_bytes("u|a|access_token", forged)
    blob = vault.seal_bytes("u|a|access_token", "verifier")
    moved = dataclasses.replace(sealed, ciphertext=blob.partition(b".")[2])
    with pytest.raises(VaultError):
        vault.open(moved)
