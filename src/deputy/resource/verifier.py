"""Verification of bearer tokens at the MCP endpoint: only Deputy's own access tokens, for this resource.

Signature (any key of the ring), ``typ: at+jwt``, ``iss``, ``aud`` = this resource, ``exp``/``iat`` with a small
skew allowance, then revocation. Verified tokens are remembered in a bounded cache keyed by the token itself, so a
client's repeated calls cost a dictionary lookup plus the revocation check; expiry and revocation are checked on
every request, cached or not.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from deputy.errors import InvalidTokenError
from deputy.oauth.tokens import AccessTokenClaims, verify_access_token
from deputy.resource.revocations import RevocationCache
from deputy.service.context import ServiceContext

__all__ = ["Principal", "TokenVerifier"]

LEEWAY = 30
CACHE_SIZE = 10_000


@dataclass(frozen=True)
class Principal:
    """Who is calling: the user, the MCP client and what the token allows. Never the token itself."""

    user_id: str
    client_id: str
    scopes: frozenset[str]
    jti: str
    grant_id: str
    expires_at: int

    @classmethod
    def of(cls, claims: AccessTokenClaims) -> Principal:
        return cls(
            claims.subject, claims.client_id, frozenset(claims.scopes), claims.jti, claims.grant_id, claims.expires_at
        )


class TokenVerifier:
    def __init__(self, ctx: ServiceContext, revocations: RevocationCache) -> None:
        self._ctx = ctx
        self.revocations = revocations
        self._cache: OrderedDict[str, Principal] = OrderedDict()

    async def verify(self, token: str) -> Principal:
        """Raises:
        InvalidTokenError: not Deputy's, not for this resource, expired, or revoked.
        """
        await self.revocations.ensure_fresh()
        now = self._ctx.clock.now()
        principal = self._cache.get(token)
        if principal is None:
            principal = self._verify_signature(token, now)
        if principal.expires_at + LEEWAY <= now:
            self._cache.pop(token, None)
            raise InvalidTokenError("access token is expired", cause="exp")
        if self.revocations.is_revoked(principal.jti, principal.grant_id):
            raise InvalidTokenError("access token is revoked", cause="revoked")
        return principal

    def _verify_signature(self, token: str, now: int) -> Principal:
        if len(token) > 4096:
            raise InvalidTokenError("access token is invalid", cause="length")
        settings = self._ctx.settings
        claims = verify_access_token(
            token,
            self._ctx.keys.verify_set,
            issuer=settings.issuer,
            audience=settings.resource_url,
            now=now,
            leeway=LEEWAY,
        )
        principal = Principal.of(claims)
        self._cache[token] = principal
        if len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return principal
