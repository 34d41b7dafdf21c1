"""The key ring: every secret key Deputy holds, by purpose, newest last.

As in itsdangerous: the newest key of each purpose signs or encrypts, every key verifies or decrypts, so a key
can be added before the old one is retired. Purposes never share a key:

* ``signing``: ES256 keys for access tokens (public halves published at ``/jwks``);
* ``hmac``: keyed hashes of codes, refresh tokens, client secrets, CSRF tokens and cookie values. Deputy stores
  only these hashes, so a database dump yields nothing that can be replayed;
* ``vault``: AES-256-GCM keys for upstream credentials (used only by ``deputy.broker.vault``);
* ``audit``: the key of the audit log's HMAC chain;
* ``intent``: Ed25519 keys that sign intent digests, the record that the user confirmed one write operation
  (``deputy.intents``). A ring written before intents existed has none; it loads, and ``deputy keys rotate
  --purpose intent`` adds one (see ``deputy.intents.keyring`` for what start-up does about it).

The file is JSON, written with mode 0600; see ``docs/configuration.md`` for its format.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from joserfc.jwk import ECKey, KeySet, OKPKey

from deputy.errors import ConfigError

__all__ = ["IntentKey", "KeyRing", "SecretKey", "SigningKey"]

FORMAT_VERSION: Final = 1
SIGNING_ALG: Final = "ES256"
INTENT_CURVE: Final = "Ed25519"


@dataclass(frozen=True)
class SecretKey:
    kid: str
    key: bytes
    created_at: int


@dataclass(frozen=True)
class SigningKey:
    kid: str
    key: ECKey
    created_at: int


@dataclass(frozen=True)
class IntentKey:
    kid: str
    key: OKPKey
    created_at: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii")


def _unb64(text: str, where: str) -> bytes:
    try:
        data = base64.urlsafe_b64decode(text.encode("ascii"))
    except (ValueError, UnicodeEncodeError) as exc:
        raise ConfigError(f"key ring: {where} is not base64url") from exc
    if len(data) != 32:
        raise ConfigError(f"key ring: {where} must be 32 bytes")
    return data


def _int(item: dict[str, object], name: str) -> int:
    value = item[name]
    if not isinstance(value, int) or isinstance(value, bool):
        raise ConfigError(f"key ring: {name} must be an integer")
    return value


def _new_secret(created_at: int) -> SecretKey:
    return SecretKey(kid=secrets.token_hex(8), key=secrets.token_bytes(32), created_at=created_at)


def _new_signing(created_at: int) -> SigningKey:
    key = ECKey.generate_key("P-256", private=True)
    key.ensure_kid()
    return SigningKey(kid=str(key.kid), key=key, created_at=created_at)


def _new_intent(created_at: int) -> IntentKey:
    key = OKPKey.generate_key(INTENT_CURVE, private=True)
    key.ensure_kid()
    return IntentKey(kid=str(key.kid), key=key, created_at=created_at)


class KeyRing:
    """All key material. Rotation writes a new file; a running instance picks it up with ``adopt`` (see
    ``deputy.broker.rotation.KeyRingWatcher``), in place, so every holder of this object sees the new keys."""

    def __init__(
        self,
        signing: list[SigningKey],
        hmac_keys: list[SecretKey],
        vault: list[SecretKey],
        audit: list[SecretKey],
        intent: list[IntentKey] | tuple[IntentKey, ...] = (),
    ) -> None:
        if not (signing and hmac_keys and vault and audit):
            raise ConfigError("key ring: every purpose (signing, hmac, vault, audit) needs at least one key")
        self.signing = tuple(signing)
        self.hmac_keys = tuple(hmac_keys)
        self.vault = tuple(vault)
        self.audit = tuple(audit)
        self._verify_set = KeySet([k.key for k in signing])
        self.intent = tuple(intent)

    # -- construction ---------------------------------------------------------------------------------------
    @classmethod
    def generate(cls, created_at: int) -> KeyRing:
        return cls(
            [_new_signing(created_at)],
            [_new_secret(created_at)],
            [_new_secret(created_at)],
            [_new_secret(created_at)],
            [_new_intent(created_at)],
        )

    def adopt(self, other: KeyRing) -> None:
        """Take over ``other``'s keys in place (a reload after rotation). Each purpose is one attribute assignment,
        so a reader sees either the old or the new tuple of a purpose, never a mix within one purpose."""
        self._verify_set = other._verify_set
        self.signing = other.signing
        self.hmac_keys = other.hmac_keys
        self.vault = other.vault
        self.audit = other.audit
        self.intent = other.intent

    def kids(self) -> dict[str, list[str]]:
        """Key ids by purpose, oldest first (the last one is current); no key material."""
        return {
            "signing": [k.kid for k in self.signing],
            "hmac": [k.kid for k in self.hmac_keys],
            "vault": [k.kid for k in self.vault],
            "audit": [k.kid for k in self.audit],
            "intent": [k.kid for k in self.intent],
        }

    @classmethod
    def from_json(cls, text: str, where: str) -> KeyRing:
        """A ring from its JSON text (the file's content, or ``keys.inline`` from the environment).

        Raises:
            ConfigError: not JSON, or not a valid ring.
        """
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ConfigError(f"{where}: the key ring is not valid JSON") from exc
        return cls.from_dict(data)

    @classmethod
    def load(cls, path: Path, *, create_if_missing: bool, now: int) -> KeyRing:
        """Load the ring, or create it when allowed.

        Raises:
            ConfigError: the file is missing (and may not be created), unreadable or malformed.
        """
        if not path.exists():
            if not create_if_missing:
                raise ConfigError(f"keys.file: key ring {path} does not exist (run `deputy keys init`)")
            ring = cls.generate(now)
            ring.save(path)
            return ring
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, ValueError) as exc:
            raise ConfigError(f"keys.file: key ring {path} cannot be read") from exc
        return cls.from_json(text, f"keys.file {path}")

    @classmethod
    def from_dict(cls, data: object) -> KeyRing:
        if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION:
            raise ConfigError(f"key ring: expected an object with version {FORMAT_VERSION}")
        try:
            signing = [cls._load_signing(item) for item in data["signing"]]
            groups = {p: [cls._load_secret(item, p) for item in data[p]] for p in ("hmac", "vault", "audit")}
            intent = [cls._load_intent(item) for item in data.get("intent", [])]  # absent in rings older than intents
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"key ring: missing or malformed entry ({exc})") from exc
        return cls(signing, groups["hmac"], groups["vault"], groups["audit"], intent)

    @staticmethod
    def _load_signing(item: dict[str, object]) -> SigningKey:
        try:
            key = ECKey.import_key(item["private_jwk"])  # type: ignore[arg-type]
        except Exception as exc:  # joserfc raises several types for a bad JWK
            raise ConfigError("key ring: a signing key is not a valid EC private JWK") from exc
        if not key.is_private:
            raise ConfigError("key ring: a signing key has no private part")
        key.ensure_kid()
        return SigningKey(kid=str(item["kid"]), key=key, created_at=_int(item, "created_at"))

    @staticmethod
    def _load_intent(item: dict[str, object]) -> IntentKey:
        try:
            key = OKPKey.import_key(item["private_jwk"])  # type: ignore[arg-type]
        except Exception as exc:  # joserfc raises several types for a bad JWK
            raise ConfigError("key ring: an intent key is not a valid OKP private JWK") from exc
        if not key.is_private or key.curve_name != INTENT_CURVE:
            raise ConfigError(f"key ring: an intent key must be a private {INTENT_CURVE} key")
        return IntentKey(kid=str(item["kid"]), key=key, created_at=_int(item, "created_at"))

    @staticmethod
    def _load_secret(item: dict[str, object], purpose: str) -> SecretKey:
        kid = str(item["kid"])
        return SecretKey(
            kid=kid, key=_unb64(str(item["key"]), f"{purpose} key {kid}"), created_at=_int(item, "created_at")
        )

    def to_dict(self) -> dict[str, object]:
        def secret(k: SecretKey) -> dict[str, object]:
            return {"kid": k.kid, "created_at": k.created_at, "key": _b64(k.key)}

        return {
            "version": FORMAT_VERSION,
            "signing": [
                {"kid": k.kid, "created_at": k.created_at, "private_jwk": {**k.key.as_dict(private=True), "kid": k.kid}}
                for k in self.signing
            ],
            "hmac": [secret(k) for k in self.hmac_keys],
            "vault": [secret(k) for k in self.vault],
            "audit": [secret(k) for k in self.audit],
            "intent": [
                {"kid": k.kid, "created_at": k.created_at, "private_jwk": {**k.key.as_dict(private=True), "kid": k.kid}}
                for k in self.intent
            ],
        }

    def save(self, path: Path) -> None:
        """Write atomically with mode 0600 (rename over the old file)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".keys-")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(self.to_dict(), fh, indent=1)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def rotated(self, purpose: str, now: int) -> KeyRing:
        """A new ring with one more (newest) key for ``purpose``; old keys stay for verification."""
        signing, hmac_keys, vault, audit = list(self.signing), list(self.hmac_keys), list(self.vault), list(self.audit)
        intent = list(self.intent)
        match purpose:
            case "signing":
                signing.append(_new_signing(now))
            case "hmac":
                hmac_keys.append(_new_secret(now))
            case "vault":
                vault.append(_new_secret(now))
            case "audit":
                audit.append(_new_secret(now))
            case "intent":
                intent.append(_new_intent(now))
            case _:
                raise ConfigError(f"unknown key purpose {purpose!r}")
        return KeyRing(signing, hmac_keys, vault, audit, intent)

    # -- use --------------------------------------------------------------------------------------------------
    @property
    def current_signing(self) -> SigningKey:
        return self.signing[-1]

    @property
    def verify_set(self) -> KeySet:
        return self._verify_set

    @property
    def current_intent(self) -> IntentKey | None:
        """The key that signs new intent digests; None for a ring that has no intent key yet."""
        return self.intent[-1] if self.intent else None

    def public_jwks(self) -> dict[str, object]:
        """RFC 7517 JWK Set of every signing key's public half (newest last), for ``/jwks``."""
        keys = []
        for k in self.signing:
            pub = k.key.as_dict(private=False)
            keys.append({**pub, "kid": k.kid, "use": "sig", "alg": SIGNING_ALG})
        return {"keys": keys}

    def keyed_hash(self, purpose: str, value: str) -> str:
        """HMAC-SHA256 of ``value`` under the newest hmac key, domain-separated by ``purpose``."""
        return self._mac(self.hmac_keys[-1].key, purpose, value)

    def keyed_hash_candidates(self, purpose: str, value: str) -> list[str]:
        """The hash under every hmac key, so lookups keep working across an hmac-key rotation."""
        return [self._mac(k.key, purpose, value) for k in reversed(self.hmac_keys)]

    def check_keyed_hash(self, purpose: str, value: str, expected: str) -> bool:
        """Constant-time check of ``value`` against a stored keyed hash, under every hmac key."""
        return any(hmac.compare_digest(c, expected) for c in self.keyed_hash_candidates(purpose, value))

    @staticmethod
    def _mac(key: bytes, purpose: str, value: str) -> str:
        msg = purpose.encode() + b"\x00" + value.encode("utf-8", "surrogatepass")
        return hmac.new(key, msg, hashlib.sha256).hexdigest()
