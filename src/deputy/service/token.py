"""The token endpoint's grants: authorization_code and refresh_token (OAuth 2.1 §4.1.3, §4.3).

One-shot consumption and issuance happen in one transaction. A *refused* redemption still commits: the code or
refresh token stays consumed, and reuse revokes the whole grant (RFC 6749 §4.1.2, RFC 9700 §4.14). That is why the
grant functions return an error instead of raising it inside the transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from deputy.audit.log import audit
from deputy.errors import (
    InvalidClientError,
    InvalidGrantError,
    InvalidRequestError,
    OAuthError,
    UnauthorizedClientError,
)
from deputy.oauth.client_assertion import CLIENT_ASSERTION_TYPE, unverified_subject
from deputy.oauth.client_metadata import PRIVATE_KEY_JWT
from deputy.oauth.models import Client, ClientKind, Grant, RefreshToken
from deputy.oauth.pkce import verify_s256
from deputy.oauth.resource import validate_resource
from deputy.oauth.scopes import parse_scope, validate_narrowing
from deputy.oauth.tokens import mint_access_token, new_refresh_token
from deputy.service.client_assertions import verify_client_assertion
from deputy.service.client_documents import (
    ClientDocumentError,
    DocumentClient,
    is_document_client_id,
    load_document_client,
)
from deputy.service.context import ServiceContext
from deputy.storage.sql.store import Tx

__all__ = [
    "ClientCredentials",
    "IssuedTokens",
    "assertion_credentials",
    "authenticate_client",
    "redeem_code",
    "refresh",
    "with_client_document",
]

CODE = "code"
REFRESH = "refresh"
CLIENT_SECRET = "client-secret"
MARK_USED_EVERY = 3600  # seconds; last-use bookkeeping is coarse so that most grants write nothing extra


@dataclass(frozen=True)
class ClientCredentials:
    """How the client presented itself: the method it used and, for confidential clients, the secret or assertion.

    ``document`` is the client resolved from its metadata document, for an https ``client_id``
    (:func:`with_client_document`).
    """

    client_id: str
    method: str
    secret: str | None = None
    assertion: str | None = None
    document: DocumentClient | None = None

    def __repr__(self) -> str:
        return f"ClientCredentials(client_id={self.client_id!r}, method={self.method!r})"


@dataclass(frozen=True)
class IssuedTokens:
    access_token: str
    expires_in: int
    refresh_token: str | None
    scopes: tuple[str, ...]

    def to_json(self) -> dict[str, object]:
        body: dict[str, object] = {
            "access_token": self.access_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "scope": " ".join(self.scopes),
        }
        if self.refresh_token:
            body["refresh_token"] = self.refresh_token
        return body

    def __repr__(self) -> str:
        return f"IssuedTokens(expires_in={self.expires_in}, scopes={self.scopes!r})"


def assertion_credentials(form: Mapping[str, str], *, other_method: bool) -> ClientCredentials:
    """RFC 7521 §4.2 / RFC 7523 §2.2 client authentication by a JWT, from the token request's form. ``client_id``
    may be left out; the assertion's (unverified) ``sub`` names the client then, and is verified later.

    Raises:
        InvalidRequestError: combined with another client authentication method.
        InvalidClientError: another assertion type, no assertion, or no way to tell the client.
    """
    if other_method or "client_secret" in form:
        raise InvalidRequestError("use one client authentication method")
    assertion = form.get("client_assertion")
    if form.get("client_assertion_type") != CLIENT_ASSERTION_TYPE or not assertion:
        raise InvalidClientError("client authentication failed", cause="client assertion type or value")
    client_id = form.get("client_id") or unverified_subject(assertion)
    if not client_id:
        raise InvalidClientError("client authentication failed", cause="client assertion without a client")
    return ClientCredentials(client_id, PRIVATE_KEY_JWT, assertion=assertion)


async def with_client_document(ctx: ServiceContext, creds: ClientCredentials) -> ClientCredentials:
    """``creds`` with the client's metadata document (and keys) attached when its ``client_id`` is a document URL.
    Runs before the grant's transaction: the fetch must not hold one open.

    Raises:
        InvalidClientError: the document cannot be fetched or used (the cause is logged and audited).
    """
    if not is_document_client_id(ctx, creds.client_id):
        return creds
    try:
        document = await load_document_client(ctx, creds.client_id, assertion=creds.assertion)
    except ClientDocumentError as exc:
        raise InvalidClientError("client authentication failed", cause=f"client metadata: {exc.reason}") from None
    return replace(creds, document=document)


def authenticate_client(ctx: ServiceContext, tx: Tx, creds: ClientCredentials, now: int) -> Client:
    """RFC 6749 §2.3 / OAuth 2.1 §2.4: the method must be the registered one; secrets compared as keyed hashes.

    Raises:
        InvalidClientError: unknown or disabled client, wrong method, wrong secret (one message for all).
    """
    if creds.document is not None:
        return _authenticate_document_client(ctx, tx, creds, creds.document, now)
    client = ctx.clients_cache.get(creds.client_id)
    if client is None or (client.expires_at is not None and client.expires_at <= now):
        client = tx.clients.load(creds.client_id, now=now)
        if client is not None:
            ctx.clients_cache.put(client.client_id, client)
    ok = client is not None and client.token_endpoint_auth_method == creds.method
    if ok and client is not None and not client.is_public:
        ok = (
            creds.secret is not None
            and client.secret_hash is not None
            and ctx.keys.check_keyed_hash(CLIENT_SECRET, creds.secret, client.secret_hash)
        )
    if not ok or client is None:
        raise InvalidClientError("client authentication failed", cause=f"client {creds.client_id!r}")
    return client


def _authenticate_document_client(
    ctx: ServiceContext, tx: Tx, creds: ClientCredentials, document: DocumentClient, now: int
) -> Client:
    """A client that is its metadata document: ``none`` (PKCE alone) or ``private_key_jwt``, as the document says.

    Raises:
        InvalidClientError: another client's document, another method, or a refused assertion.
    """
    client = document.client
    if client.client_id != creds.client_id or client.token_endpoint_auth_method != creds.method:
        raise InvalidClientError("client authentication failed", cause=f"document client {creds.client_id!r}")
    if tx.clients.is_disabled(client.client_id):  # ``deputy clients disable`` (docs/consent.md)
        raise InvalidClientError("client authentication failed", cause=f"document client {creds.client_id!r} disabled")
    if creds.method == PRIVATE_KEY_JWT:
        verify_client_assertion(ctx, tx, document, creds.assertion, now)
    return client


def _issue(
    ctx: ServiceContext, tx: Tx, grant: Grant, client: Client, scopes: tuple[str, ...], now: int
) -> IssuedTokens:
    lifetimes = ctx.settings.lifetimes
    access, _claims = mint_access_token(
        ctx.keys.current_signing,
        issuer=ctx.issuer,
        subject=grant.user_id,
        audience=grant.resource,
        client_id=client.client_id,
        scopes=scopes,
        grant_id=grant.grant_id,
        now=now,
        ttl=lifetimes.access_token,
    )
    refresh_token: str | None = None
    if "refresh_token" in client.grant_types:
        refresh_token = new_refresh_token()
        tx.refresh_tokens.save(
            RefreshToken(
                ctx.keys.keyed_hash(REFRESH, refresh_token),
                grant.grant_id,
                client.client_id,
                scopes,
                now,
                now + lifetimes.refresh_token,
            )
        )
    # A client with live tokens must outlive them; only registrations nobody uses lapse early (documents are no rows).
    stale = client.last_used_at is None or client.last_used_at < now - MARK_USED_EVERY
    if stale and client.kind is not ClientKind.DOCUMENT:
        tx.clients.mark_used(client.client_id, now, keep_for=lifetimes.unused_registration + lifetimes.refresh_token)
    return IssuedTokens(access, lifetimes.access_token, refresh_token, scopes)


def redeem_code(
    ctx: ServiceContext,
    creds: ClientCredentials,
    *,
    code: str,
    redirect_uri: str | None,
    code_verifier: str | None,
    resource: str | None,
) -> IssuedTokens:
    """authorization_code grant.

    Raises:
        OAuthError: invalid_client, invalid_grant (unknown, expired, reused, PKCE or redirect mismatch),
            invalid_request, invalid_target.
    """
    now = ctx.clock.now()
    with ctx.store.write() as tx:
        client = authenticate_client(ctx, tx, creds, now)
        outcome = _redeem(ctx, tx, client, code, redirect_uri, code_verifier, resource, now)
    if isinstance(outcome, OAuthError):
        raise outcome
    return outcome


def _redeem(
    ctx: ServiceContext,
    tx: Tx,
    client: Client,
    code: str,
    redirect_uri: str | None,
    verifier: str | None,
    resource: str | None,
    now: int,
) -> IssuedTokens | OAuthError:
    if "authorization_code" not in client.grant_types:
        return UnauthorizedClientError("client may not use the authorization_code grant")
    hashes = ctx.keys.keyed_hash_candidates(CODE, code)
    record = tx.codes.consume(hashes, now=now)
    if record is None:
        return _code_not_redeemable(tx, hashes, client, now)
    if record.client_id != client.client_id:
        # A code belongs to one client; pretend it does not exist for any other (and it stays consumed).
        audit(tx.audit, "code.refused", at=now, outcome="refused", client_id=client.client_id, reason="client")
        return InvalidGrantError("authorization code is invalid")
    problem = _code_problem(
        record.redirect_uri, record.code_challenge, record.resource, redirect_uri, verifier, resource
    )
    grant = tx.grants.load(record.grant_id)
    if problem is None and (grant is None or grant.revoked_at is not None):
        problem = "grant revoked"
    if problem is not None or grant is None:
        audit(
            tx.audit,
            "code.refused",
            at=now,
            outcome="refused",
            client_id=client.client_id,
            user_id=record.user_id,
            reason=problem,
        )
        tx.grants.revoke(record.grant_id, now=now, reason="code-refused")
        return InvalidGrantError("authorization code is invalid", cause=str(problem))
    issued = _issue(ctx, tx, grant, client, record.scopes, now)
    audit(
        tx.audit, "code.redeemed", at=now, client_id=client.client_id, user_id=record.user_id, grant_id=grant.grant_id
    )
    return issued


def _code_not_redeemable(tx: Tx, hashes: list[str], client: Client, now: int) -> OAuthError:
    existing = tx.codes.load(hashes)
    if existing is not None and existing.used_at is not None and existing.client_id == client.client_id:
        tx.grants.revoke(existing.grant_id, now=now, reason="code-reuse")
        audit(
            tx.audit,
            "code.reused",
            at=now,
            outcome="revoked",
            client_id=client.client_id,
            user_id=existing.user_id,
            grant_id=existing.grant_id,
        )
    else:
        audit(
            tx.audit, "code.refused", at=now, outcome="refused", client_id=client.client_id, reason="unknown-or-expired"
        )
    return InvalidGrantError("authorization code is invalid, expired or already used")


def _code_problem(
    bound_redirect: str,
    challenge: str,
    bound_resource: str,
    redirect_uri: str | None,
    verifier: str | None,
    resource: str | None,
) -> str | None:
    if redirect_uri is not None and redirect_uri != bound_redirect:
        return "redirect_uri"
    if verifier is None or not verify_s256(verifier, challenge):
        return "pkce"
    if resource is not None:
        try:
            validate_resource(resource, bound_resource)
        except OAuthError:
            return "resource"
    return None


def refresh(
    ctx: ServiceContext, creds: ClientCredentials, *, refresh_token: str, scope: str | None, resource: str | None
) -> IssuedTokens:
    """refresh_token grant with rotation; reuse of a rotated token revokes the family.

    Raises:
        OAuthError: invalid_client, invalid_grant, invalid_scope, invalid_target.
    """
    now = ctx.clock.now()
    requested = parse_scope(scope)
    with ctx.store.write() as tx:
        client = authenticate_client(ctx, tx, creds, now)
        outcome = _refresh(ctx, tx, client, refresh_token, requested, resource, now)
    if isinstance(outcome, OAuthError):
        raise outcome
    return outcome


def _refresh(
    ctx: ServiceContext, tx: Tx, client: Client, token: str, requested: tuple[str, ...], resource: str | None, now: int
) -> IssuedTokens | OAuthError:
    if "refresh_token" not in client.grant_types:
        return UnauthorizedClientError("client may not use the refresh_token grant")
    hashes = ctx.keys.keyed_hash_candidates(REFRESH, token)
    if requested or resource is not None:
        refused = _check_refresh_request(ctx, tx, hashes, requested, resource)
        if refused is not None:  # checked before rotation, so a bad request does not cost the client its session
            return refused
    record = tx.refresh_tokens.rotate(hashes, now=now)
    if record is None:
        return _refresh_not_usable(tx, tx.refresh_tokens.load(hashes), client, now)
    grant = _live_grant(ctx, tx, record)
    if record.client_id != client.client_id or grant is None:
        audit(tx.audit, "refresh.refused", at=now, outcome="refused", client_id=client.client_id)
        return InvalidGrantError("refresh token is invalid")
    issued = _issue(ctx, tx, grant, client, validate_narrowing(requested, record.scopes), now)
    audit(
        tx.audit, "refresh.rotated", at=now, client_id=client.client_id, user_id=grant.user_id, grant_id=grant.grant_id
    )
    return issued


def _check_refresh_request(
    ctx: ServiceContext, tx: Tx, hashes: list[str], requested: tuple[str, ...], resource: str | None
) -> OAuthError | None:
    current = tx.refresh_tokens.load(hashes)
    try:
        validate_narrowing(requested, current.scopes if current else ())
        if resource is not None:
            validate_resource(resource, ctx.settings.resource_url)
    except OAuthError as exc:
        return exc if current is not None else InvalidGrantError("refresh token is invalid")
    return None


def _live_grant(ctx: ServiceContext, tx: Tx, record: RefreshToken) -> Grant | None:
    """The grant of a refresh token that was just rotated. It is live: revoking a grant retires its refresh
    tokens in the same transaction, so the rotation would have failed. Its user and resource never change, so they
    may come from the cache."""
    known = ctx.grants_cache.get(record.grant_id)
    if known is None:
        grant = tx.grants.load(record.grant_id)
        if grant is None or grant.revoked_at is not None:
            return None
        ctx.grants_cache.put(grant.grant_id, (grant.user_id, grant.resource))
        return grant
    user_id, resource = known
    return Grant(record.grant_id, user_id, record.client_id, record.scopes, resource, record.created_at)


def _refresh_not_usable(tx: Tx, existing: RefreshToken | None, client: Client, now: int) -> OAuthError:
    if existing is not None and existing.rotated_at is not None and existing.client_id == client.client_id:
        tx.grants.revoke(existing.grant_id, now=now, reason="refresh-reuse")
        audit(
            tx.audit,
            "refresh.reuse_detected",
            at=now,
            outcome="revoked",
            client_id=client.client_id,
            grant_id=existing.grant_id,
        )
    else:
        audit(
            tx.audit,
            "refresh.refused",
            at=now,
            outcome="refused",
            client_id=client.client_id,
            reason="unknown-or-expired",
        )
    return InvalidGrantError("refresh token is invalid, expired or already used")
