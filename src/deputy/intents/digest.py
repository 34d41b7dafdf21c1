"""The signed intent digest: Deputy's record that the user confirmed one operation, for one grant, until a time.

A compact JWS (RFC 7515) signed with the ring's newest Ed25519 intent key (``alg: Ed25519``, RFC 9864), header
``typ: deputy-intent+jws`` and ``kid``; the payload is canonical JSON::

    {"draft_id": "drf_…", "expires_at": 1800000300, "intent_hash": "<hex sha-256>",
     "operation": "contacts_create", "session_id": "grt_…", "confirmed_at": 1800000000}

``session_id`` is the grant the draft came from (the principal's ``grant_id``), so a digest cannot be spent by
another client, or by a later authorization of the same client. Every intent key of the ring verifies, so a
rotation does not void confirmations in flight; a digest signed by any other key is refused. Signing and
verification are joserfc's; this module only fixes the format.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Final, TypeVar

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from deputy.errors import DeputyError
from deputy.intents.canonical import canonical_json
from deputy.keys import IntentKey

__all__ = ["ALGORITHM", "DIGEST_TYPE", "DigestError", "IntentDigest", "sign_digest", "verify_digest"]

ALGORITHM: Final = "Ed25519"
DIGEST_TYPE: Final = "deputy-intent+jws"
MAX_DIGEST: Final = 2048
_T = TypeVar("_T", str, int)


class DigestError(DeputyError):
    """The digest is malformed, of another type, or not signed by an intent key of this ring."""


@dataclass(frozen=True)
class IntentDigest:
    intent_hash: str
    operation: str
    session_id: str
    expires_at: int
    draft_id: str
    confirmed_at: int


def sign_digest(digest: IntentDigest, key: IntentKey) -> str:
    """The compact JWS of ``digest`` under ``key``."""
    header = {"alg": ALGORITHM, "kid": key.kid, "typ": DIGEST_TYPE}
    payload = canonical_json(asdict(digest)).encode("utf-8")
    return jws.serialize_compact(header, payload, key.key, algorithms=[ALGORITHM])


def verify_digest(token: str, keys: Sequence[IntentKey]) -> IntentDigest:
    """The digest, if ``token`` is a well-formed intent digest signed by one of ``keys``. Expiry is the caller's.

    Raises:
        DigestError: anything else, including a signature by a key that is not in ``keys``.
    """
    if not keys or len(token) > MAX_DIGEST:
        raise DigestError("no usable intent digest")
    try:
        obj = jws.deserialize_compact(token, KeySet([k.key for k in keys]), algorithms=[ALGORITHM])
        payload = json.loads(obj.payload)
    except (JoseError, ValueError) as exc:
        raise DigestError("the intent digest does not verify") from exc
    if obj.headers().get("typ") != DIGEST_TYPE or not isinstance(payload, dict):
        raise DigestError("not an intent digest")
    return _from_payload(payload)


def _from_payload(payload: dict[str, object]) -> IntentDigest:
    return IntentDigest(
        intent_hash=_field(payload, "intent_hash", str),
        operation=_field(payload, "operation", str),
        session_id=_field(payload, "session_id", str),
        expires_at=_field(payload, "expires_at", int),
        draft_id=_field(payload, "draft_id", str),
        confirmed_at=_field(payload, "confirmed_at", int),
    )


def _field(payload: dict[str, object], name: str, kind: type[_T]) -> _T:
    value = payload.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise DigestError(f"intent digest field {name} is missing or malformed")
    return value
