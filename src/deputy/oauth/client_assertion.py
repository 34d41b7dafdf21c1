"""``private_key_jwt`` client authentication (RFC 7523 §2.2 and §3, OpenID Connect Core §9).

The client proves possession of a key from its own JWK Set by signing a short-lived JWT about itself. The rules,
strictest reading throughout:

* ``client_assertion_type`` is ``urn:ietf:params:oauth:client-assertion-type:jwt-bearer``;
* the signature uses one of :data:`ALLOWED_ALGS` (never ``none``, never an HMAC: the client has no shared secret)
  and a key from the client's JWK Set;
* ``iss`` and ``sub`` are both the ``client_id`` (RFC 7523 §3 items 1 and 2);
* ``aud`` is Deputy's issuer identifier and nothing else: not the token endpoint URL, not a list that also names
  another party (draft-ietf-oauth-rfc7523bis, which closes the audience-confusion attack on the old rules);
* ``exp`` is present, in the future, and at most :data:`MAX_LIFETIME` seconds ahead, so a stolen assertion is
  worth little and its ``jti`` need be remembered only briefly;
* ``jti`` is present; the caller records it and refuses a second use until ``exp``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwa import JWSAlgModel
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry, extract_compact

from deputy.errors import InvalidClientError

__all__ = [
    "ALLOWED_ALGS",
    "CLIENT_ASSERTION_TYPE",
    "MAX_LIFETIME",
    "AssertionClaims",
    "unverified_subject",
    "validate_client_assertion",
]

CLIENT_ASSERTION_TYPE: Final = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"  # RFC 7523 §2.2
ALLOWED_ALGS: Final = ("ES256", "RS256", "PS256", "EdDSA")
MAX_LIFETIME: Final = 300
"""``exp`` may be at most this many seconds ahead of Deputy's clock."""
CLOCK_SKEW: Final = 30
"""How far in the future ``iat`` and ``nbf`` may lie, for clients whose clocks run a little fast."""
MAX_JTI_LENGTH: Final = 256
ALLOWED_TYP: Final = frozenset({"JWT", "client-authentication+jwt"})  # rfc7523bis explicit typing


@dataclass(frozen=True)
class AssertionClaims:
    """What Deputy keeps of a verified assertion: enough to refuse its replay."""

    client_id: str
    jti: str
    expires_at: int


class _Registry(JWSRegistry):
    """joserfc warns on every use of ``EdDSA`` (RFC 9864 prefers the fully-specified ``Ed25519``). Deputy accepts it
    on purpose, the curve being fixed by the client's key, so the warning is not raised on each request."""

    def get_alg(self, name: str) -> JWSAlgModel:
        if name == "EdDSA" and self.allowed and name in self.allowed:
            return self.algorithms[name]
        return super().get_alg(name)


_REGISTRY: Final = _Registry(algorithms=list(ALLOWED_ALGS))


def _refused(cause: str) -> InvalidClientError:
    # One public message for every failure (RFC 6749 §5.2); the cause goes to the log only.
    return InvalidClientError("client authentication failed", cause=f"client assertion: {cause}")


def unverified_subject(assertion: str) -> str | None:
    """The ``sub`` an assertion claims, read WITHOUT verifying it, to know which client's keys to fetch.

    Nothing is trusted on the strength of this value: :func:`validate_client_assertion` checks it again after the
    signature. ``None`` when the assertion cannot be read.
    """
    payload = _unverified_payload(assertion)
    sub = payload.get("sub") if payload is not None else None
    return sub if isinstance(sub, str) else None


def validate_client_assertion(
    assertion: str, *, client_id: str, keys: KeySet, issuer: str, now: int
) -> AssertionClaims:
    """Verify the assertion as ``client_id``'s, for Deputy (``issuer``), at time ``now``.

    Raises:
        InvalidClientError: any rule of the module docstring broken (one message for all).
    """
    header = _unverified_header(assertion)
    if header is None or header.get("alg") not in ALLOWED_ALGS:
        raise _refused("algorithm")
    if "typ" in header and header["typ"] not in ALLOWED_TYP:
        raise _refused("typ")
    try:
        token = jwt.decode(assertion, keys, registry=_REGISTRY)
    except (JoseError, ValueError, TypeError, KeyError):
        raise _refused("signature") from None
    claims = token.claims
    if claims.get("iss") != client_id or claims.get("sub") != client_id:
        raise _refused("iss/sub")
    if not _is_sole_audience(claims.get("aud"), issuer):
        raise _refused("aud")
    expires_at = _check_times(claims, now)
    jti = claims.get("jti")
    if not isinstance(jti, str) or not 0 < len(jti) <= MAX_JTI_LENGTH:
        raise _refused("jti")
    return AssertionClaims(client_id, jti, expires_at)


def _is_sole_audience(aud: object, issuer: str) -> bool:
    """``aud`` names Deputy's issuer and nothing else: the string, or a one-element array holding it."""
    if isinstance(aud, list):
        return len(aud) == 1 and aud[0] == issuer
    return aud == issuer


def _check_times(claims: Mapping[str, object], now: int) -> int:
    """``exp`` required, in the future and at most MAX_LIFETIME ahead; ``iat`` and ``nbf`` not in the future."""
    exp = _numeric_date(claims, "exp")
    if exp is None:
        raise _refused("exp missing")
    if exp <= now:
        raise _refused("expired")
    if exp > now + MAX_LIFETIME:
        raise _refused("exp too far ahead")
    for name in ("iat", "nbf"):
        value = _numeric_date(claims, name)
        if value is not None and value > now + CLOCK_SKEW:
            raise _refused(name)
    return exp


def _numeric_date(claims: Mapping[str, object], name: str) -> int | None:
    """An integer NumericDate, ``None`` when absent; anything else (``bool``, a float, a string) is refused."""
    value = claims.get(name)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise _refused(name)
    return value


def _unverified_header(assertion: str) -> Mapping[str, object] | None:
    try:
        return extract_compact(assertion.encode("ascii")).headers()
    except (JoseError, ValueError, UnicodeError):
        return None


def _unverified_payload(assertion: str) -> Mapping[str, object] | None:
    try:
        parsed = json.loads(extract_compact(assertion.encode("ascii")).payload)
    except (JoseError, ValueError, UnicodeError):
        return None
    return parsed if isinstance(parsed, dict) else None
