"""Minting and checking Deputy's own tokens.

Access tokens are RFC 9068 JWTs (``typ: at+jwt``, ES256) whose ``aud`` is Deputy's MCP resource, so a resource
server can refuse anything minted for another audience. Codes, refresh tokens and other one-shot secrets are
random strings with a recognisable prefix (``dpc_``, ``dpr_``, ``dps_``) so secret scanners and the leak tests can
find them; only their keyed hashes are stored.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Final

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from deputy.errors import InvalidTokenError
from deputy.keys import SIGNING_ALG, SigningKey

__all__ = [
    "AccessTokenClaims",
    "mint_access_token",
    "new_client_id",
    "new_client_secret",
    "new_code",
    "new_id",
    "new_refresh_token",
    "new_secret",
    "verify_access_token",
]

AT_TYP: Final = "at+jwt"  # RFC 9068 §2.1
CODE_PREFIX: Final = "dpc_"
REFRESH_PREFIX: Final = "dpr_"
SECRET_PREFIX: Final = "dps_"


def new_secret(prefix: str = "", nbytes: int = 32) -> str:
    return prefix + secrets.token_urlsafe(nbytes)


def new_code() -> str:
    return new_secret(CODE_PREFIX)


def new_refresh_token() -> str:
    return new_secret(REFRESH_PREFIX)


def new_client_secret() -> str:
    return new_secret(SECRET_PREFIX)


def new_client_id() -> str:
    return "dcl_" + secrets.token_urlsafe(18)


def new_id(prefix: str) -> str:
    return prefix + secrets.token_hex(12)


@dataclass(frozen=True)
class AccessTokenClaims:
    issuer: str
    subject: str
    audience: str
    client_id: str
    scopes: tuple[str, ...]
    jti: str
    grant_id: str
    issued_at: int
    expires_at: int


def mint_access_token(
    key: SigningKey,
    *,
    issuer: str,
    subject: str,
    audience: str,
    client_id: str,
    scopes: tuple[str, ...],
    grant_id: str,
    now: int,
    ttl: int,
) -> tuple[str, AccessTokenClaims]:
    """Sign an RFC 9068 access token. ``gid`` names the grant, so revoking a family reaches its access tokens."""
    claims = AccessTokenClaims(
        issuer, subject, audience, client_id, scopes, secrets.token_hex(16), grant_id, now, now + ttl
    )
    payload = {
        "iss": issuer,
        "sub": subject,
        "aud": audience,
        "client_id": client_id,
        "scope": " ".join(scopes),
        "jti": claims.jti,
        "gid": grant_id,
        "iat": now,
        "exp": claims.expires_at,
    }
    header = {"alg": SIGNING_ALG, "typ": AT_TYP, "kid": key.kid}
    return jwt.encode(header, payload, key.key, algorithms=[SIGNING_ALG]), claims


def _claim_str(claims: dict[str, object], name: str) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidTokenError("access token is malformed", cause=f"claim {name} missing")
    return value


def _claim_int(claims: dict[str, object], name: str) -> int:
    value = claims.get(name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidTokenError("access token is malformed", cause=f"claim {name} missing")
    return value


def verify_access_token(
    token: str, keys: KeySet, *, issuer: str, audience: str, now: int, leeway: int = 30
) -> AccessTokenClaims:
    """Check signature (any key in the ring), ``typ``, ``iss``, ``aud``, ``exp`` and ``iat``; revocation is the
    caller's job because it needs storage.

    Raises:
        InvalidTokenError: for every failure; the public description never says which check failed.
    """
    try:
        decoded = jwt.decode(token, keys, algorithms=[SIGNING_ALG])
    except (JoseError, ValueError, TypeError) as exc:
        raise InvalidTokenError("access token is invalid", cause=f"decode: {type(exc).__name__}") from None
    if decoded.header.get("typ") != AT_TYP:
        raise InvalidTokenError("access token is invalid", cause="typ")
    c = decoded.claims
    if _claim_str(c, "iss") != issuer:
        raise InvalidTokenError("access token is invalid", cause="iss")
    if c.get("aud") != audience:  # a single string; a list (multi-audience) is never minted by Deputy
        raise InvalidTokenError("access token is invalid", cause="aud")
    exp, iat = _claim_int(c, "exp"), _claim_int(c, "iat")
    if exp + leeway <= now or iat - leeway > now:
        raise InvalidTokenError("access token is expired", cause="exp/iat")
    scope = c.get("scope", "")
    return AccessTokenClaims(
        issuer,
        _claim_str(c, "sub"),
        audience,
        _claim_str(c, "client_id"),
        tuple(scope.split()) if isinstance(scope, str) else (),
        _claim_str(c, "jti"),
        _claim_str(c, "gid"),
        iat,
        exp,
    )
