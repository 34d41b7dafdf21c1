"""Token revocation (RFC 7009) for refresh and access tokens.

Revoking a refresh token revokes its whole grant, so the access tokens issued from it die too (RFC 7009 §2.1
"SHOULD"). Revoking an access token adds its ``jti`` to the revocation list the resource server polls. A token
that is unknown, malformed or belongs to another client gets the same 200 as success (RFC 7009 §2.2), so the
endpoint cannot be used to probe tokens.
"""

from __future__ import annotations

from deputy.audit.log import audit
from deputy.errors import InvalidTokenError
from deputy.oauth.tokens import REFRESH_PREFIX, verify_access_token
from deputy.service.context import ServiceContext
from deputy.service.token import REFRESH, ClientCredentials, authenticate_client
from deputy.storage.sql.store import Tx

__all__ = ["revoke_token"]


def revoke_token(ctx: ServiceContext, creds: ClientCredentials, *, token: str, hint: str | None) -> None:
    """Raises:
    InvalidClientError: the client failed authentication (the only error this endpoint reports).
    """
    now = ctx.clock.now()
    with ctx.store.write() as tx:
        client = authenticate_client(ctx, tx, creds, now)
        if token.startswith(REFRESH_PREFIX) or hint == "refresh_token":
            done = _revoke_refresh(ctx, tx, client.client_id, token, now)
        else:
            done = False
        if not done:
            done = _revoke_access(ctx, tx, client.client_id, token, now)
        audit(
            tx.audit,
            "token.revoked" if done else "token.revoke_ignored",
            at=now,
            outcome="ok" if done else "ignored",
            client_id=client.client_id,
        )


def _revoke_refresh(ctx: ServiceContext, tx: Tx, client_id: str, token: str, now: int) -> bool:
    record = tx.refresh_tokens.load(ctx.keys.keyed_hash_candidates(REFRESH, token))
    if record is None or record.client_id != client_id:
        return False
    tx.grants.revoke(record.grant_id, now=now, reason="revoked-by-client")
    return True


def _revoke_access(ctx: ServiceContext, tx: Tx, client_id: str, token: str, now: int) -> bool:
    try:
        claims = verify_access_token(
            token, ctx.keys.verify_set, issuer=ctx.issuer, audience=ctx.settings.resource_url, now=now, leeway=0
        )
    except InvalidTokenError:
        return False
    if claims.client_id != client_id:
        return False
    tx.revocations.revoke(claims.jti, claims.grant_id, now=now, expires_at=claims.expires_at)
    return True
