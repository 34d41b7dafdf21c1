"""``private_key_jwt`` for document clients: verify the assertion, then spend its ``jti`` in the same transaction.

The keys come from the client's metadata document (inline ``jwks`` or ``jwks_uri``), resolved before the
transaction by ``deputy.service.client_documents``. The ``jti`` is recorded (as a hash of client and ``jti``) in
the transaction that issues the tokens, so of two requests carrying one assertion at most one succeeds.
"""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING

from deputy.errors import InvalidClientError
from deputy.oauth.client_assertion import validate_client_assertion
from deputy.service.client_documents import DocumentClient
from deputy.storage.sql.client_assertions import SqlClientAssertions
from deputy.storage.sql.store import Tx

if TYPE_CHECKING:
    from deputy.service.context import ServiceContext

__all__ = ["assertion_hash", "verify_client_assertion"]

log = logging.getLogger("deputy.client_assertions")


def assertion_hash(client_id: str, jti: str) -> str:
    """What is stored for a used assertion: enough to recognise a replay, nothing more."""
    return hashlib.sha256(f"{client_id}\x00{jti}".encode()).hexdigest()


def verify_client_assertion(
    ctx: ServiceContext, tx: Tx, client: DocumentClient, assertion: str | None, now: int
) -> None:
    """Authenticate ``client`` by its assertion (``deputy.oauth.client_assertion``) and refuse a replay.

    Raises:
        InvalidClientError: no assertion or no keys, an assertion that fails verification, or a ``jti`` seen before.
    """
    if assertion is None or client.keys is None:
        raise InvalidClientError("client authentication failed", cause="client assertion: missing or no keys")
    claims = validate_client_assertion(
        assertion, client_id=client.client.client_id, keys=client.keys, issuer=ctx.issuer, now=now
    )
    recorded = SqlClientAssertions(tx.conn).save_once(
        assertion_hash(claims.client_id, claims.jti), expires_at=claims.expires_at, now=now
    )
    if not recorded:
        log.warning("client assertion replayed by %s", client.domain)
        raise InvalidClientError("client authentication failed", cause="client assertion: jti replayed")
