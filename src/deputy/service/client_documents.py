"""Clients identified by their metadata document: fetch, validate, cache, and the keys for ``private_key_jwt``.

A document is resolved in the event loop *before* the unit of work that needs the client: a fetch can take seconds,
and no transaction (SQLite's write lock included) may wait on the network. The resolved :class:`DocumentClient`
is then handed to the synchronous service that /authorize or /token runs.

Nothing is stored in the database: a document client is not a registration. It cannot be edited through the
registration endpoint (whose client_ids Deputy mints itself and which never contain ``:``), and it does not count
against the registration rate limit.

Documents and key sets are cached per instance (``deputy.service.document_cache``). One that fails to fetch or
validate is never cached, so a fixed document is fetched again at the next attempt. Every fetch, and every
refusal, is audited.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import anyio.to_thread
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jws import extract_compact

from deputy.audit.log import audit
from deputy.errors import OAuthError
from deputy.net.fetcher import Fetched, FetchError, SafeFetcher
from deputy.oauth.client_metadata import (
    DOCUMENT_AUTH_METHODS,
    MAX_CLIENT_ID_LENGTH,
    PRIVATE_KEY_JWT,
    ClientDocument,
    document_client,
    is_client_id_url,
    validate_client_document,
    validate_client_id_url,
    validate_jwks,
)
from deputy.oauth.models import Client
from deputy.service.registration import registration_policy

if TYPE_CHECKING:
    from deputy.service.context import ServiceContext

__all__ = ["ClientDocumentError", "DocumentClient", "is_document_client_id", "load_document_client"]

log = logging.getLogger("deputy.client_documents")


class ClientDocumentError(Exception):
    """The document (or its key set) cannot be used. ``reason`` is for the log and the audit entry only."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class DocumentClient:
    """A client resolved from its document, with its public keys when it authenticates with ``private_key_jwt``."""

    client: Client
    domain: str
    keys: KeySet | None = None


def is_document_client_id(ctx: ServiceContext, client_id: str | None) -> bool:
    """Whether ``client_id`` is to be resolved through its document: an https URL, with the feature enabled."""
    return bool(client_id) and ctx.settings.client_metadata.enabled and is_client_id_url(client_id or "")


async def load_document_client(ctx: ServiceContext, client_id: str, *, assertion: str | None = None) -> DocumentClient:
    """The client ``client_id`` names, from the cache or freshly fetched; with its keys when it uses
    ``private_key_jwt`` and ``assertion`` (the client's JWT, unverified) is given.

    Raises:
        ClientDocumentError: unusable URL, fetch refused or failed, invalid document or key set.
    """
    now = ctx.clock.now()
    try:
        document = await _document(ctx, client_id, now)
        keys = None
        if assertion is not None and document.metadata.token_endpoint_auth_method == PRIVATE_KEY_JWT:
            keys = await _keys(ctx, document, _kid_of(assertion), now)
    except ClientDocumentError as exc:
        log.info("client metadata document refused: %s", exc.reason)
        known = client_id if len(client_id) <= MAX_CLIENT_ID_LENGTH else None
        await _record(ctx, "client.document_refused", known, outcome="refused", reason=exc.reason)
        raise
    return DocumentClient(document_client(document, now=now), document.domain, keys)


async def _document(ctx: ServiceContext, client_id: str, now: int) -> ClientDocument:
    cache = ctx.client_documents
    cached = cache.documents.get(client_id, now)
    if cached is not None:
        return cached
    try:
        validate_client_id_url(client_id)
    except OAuthError as exc:
        raise ClientDocumentError(f"client_id: {exc.cause}") from None
    fetched = await _fetch(cache.fetcher(ctx.settings.client_metadata), client_id)
    policy = replace(registration_policy(ctx), allowed_auth_methods=DOCUMENT_AUTH_METHODS)  # as registrations
    try:
        document = validate_client_document(client_id, fetched.body, policy)
    except OAuthError as exc:
        raise ClientDocumentError(f"invalid: {exc.cause or exc.description}") from None
    if fetched.cache_seconds > 0:
        cache.documents.put(client_id, document, now + fetched.cache_seconds)
    await _record(ctx, "client.document_loaded", client_id, outcome="ok", domain=document.domain)
    return document


async def _keys(ctx: ServiceContext, document: ClientDocument, kid: str | None, now: int) -> KeySet:
    """The inline ``jwks``, or the set at ``jwks_uri``; fetched again when the assertion names a key the cached
    set lacks (the client rotated its keys)."""
    if document.jwks is not None:
        return document.jwks
    if document.jwks_uri is None:
        raise ClientDocumentError("no keys")
    cache = ctx.client_documents
    cached = cache.key_sets.get(document.jwks_uri, now)
    if cached is not None and (kid is None or any(key.kid == kid for key in cached.keys)):
        return cached
    fetched = await _fetch(cache.fetcher(ctx.settings.client_metadata), document.jwks_uri)
    try:
        keys = validate_jwks(json.loads(fetched.body))
    except (ValueError, OAuthError):
        raise ClientDocumentError("invalid jwks") from None
    if fetched.cache_seconds > 0:
        cache.key_sets.put(document.jwks_uri, keys, now + fetched.cache_seconds)
    return keys


async def _fetch(fetcher: SafeFetcher, url: str) -> Fetched:
    try:
        return await fetcher.fetch_json(url)
    except FetchError as exc:
        raise ClientDocumentError(f"fetch: {exc.reason}") from None


def _kid_of(assertion: str) -> str | None:
    try:
        kid = extract_compact(assertion.encode("ascii")).headers().get("kid")
    except (JoseError, ValueError, UnicodeError):
        return None
    return kid if isinstance(kid, str) else None


async def _record(ctx: ServiceContext, event: str, client_id: str | None, *, outcome: str, **detail: str) -> None:
    """Audit a fetch outcome in its own short transaction, off the event loop."""
    now = ctx.clock.now()

    def write() -> None:
        with ctx.store.write() as tx:
            audit(tx.audit, event, at=now, outcome=outcome, client_id=client_id, **detail)

    await anyio.to_thread.run_sync(write)
