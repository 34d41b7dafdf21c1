"""Tokens for downstream services: the RFC 8693 grant at ``/token``, and the same exchange in-process.

Both paths run one transaction that checks the subject token is still live, applies the service's policy, mints
the token and writes the audit entry; a refusal is audited and committed the same way (invariant 7), then raised.
Liveness is read from the database (the token's ``jti`` and its grant), not from the resource server's polled
revocation cache, so a revocation stops exchanges at once.

Who may exchange: the client the subject token was issued to, authenticated as for any other grant, so a stolen
token is useless to another client. The client does not need ``token-exchange`` among its registered
``grant_types``: registration offers only the authorization code flow, and holding a Deputy token is already the
proof of consent; a service's ``clients`` list is the place to restrict who may exchange.

The functions are synchronous (storage is); async callers run them through ``Deps.run`` or an equivalent.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Protocol

from deputy.audit.log import audit
from deputy.broker.exchange import (
    ACCESS_TOKEN_TYPE,
    DownstreamService,
    ExchangedToken,
    ExchangeRequest,
    InvalidSubjectTokenError,
    SubjectToken,
    actor_claim,
    check_client_admitted,
    downstream_services,
    exchange_expiry,
    mint_exchanged_token,
    subject_act,
    validate_exchange_scope,
    validate_target,
)
from deputy.errors import InvalidTargetError, InvalidTokenError, OAuthError
from deputy.oauth.scopes import format_scope, parse_scope
from deputy.oauth.tokens import verify_access_token
from deputy.resource.verifier import LEEWAY
from deputy.service.context import ServiceContext
from deputy.service.token import ClientCredentials, authenticate_client
from deputy.storage.sql.store import Tx

__all__ = ["Caller", "exchange_for_downstream", "exchange_token"]

MAX_SUBJECT_TOKEN = 4096  # as at the MCP endpoint


class Caller(Protocol):
    """What the in-process path needs from a caller the MCP endpoint has already verified
    (``deputy.resource.verifier.Principal`` fits)."""

    @property
    def user_id(self) -> str: ...
    @property
    def client_id(self) -> str: ...
    @property
    def scopes(self) -> Collection[str]: ...
    @property
    def jti(self) -> str: ...
    @property
    def grant_id(self) -> str: ...
    @property
    def expires_at(self) -> int: ...


def exchange_token(ctx: ServiceContext, creds: ClientCredentials, request: ExchangeRequest) -> ExchangedToken:
    """The token-exchange grant (RFC 8693 §2).

    Raises:
        OAuthError: invalid_client; invalid_request (an invalid, expired, revoked, foreign or another client's
            subject token, §2.2.2); invalid_target; unauthorized_client; invalid_scope.
    """
    now = ctx.clock.now()
    with ctx.store.write() as tx:
        outcome = _exchange_at_endpoint(ctx, tx, creds, request, now)
    if isinstance(outcome, OAuthError):
        raise outcome
    return outcome


def exchange_for_downstream(
    ctx: ServiceContext, principal: Caller, service_name: str, scope: str | Sequence[str] | None = None
) -> ExchangedToken:
    """Exchange a verified MCP caller's token for a token for the configured service ``service_name``.

    The same checks as the grant, minus client authentication and token parsing (the MCP endpoint did both): the
    subject must still be live, the service must admit the client, and the scope is narrowed the same way. The
    actor recorded in ``act`` is the MCP client, on whose behalf the tool runs.

    Raises:
        OAuthError: invalid_target (no such service), invalid_request (revoked or expired subject),
            unauthorized_client, invalid_scope.
    """
    now = ctx.clock.now()
    subject = SubjectToken(
        principal.user_id,
        principal.client_id,
        tuple(sorted(principal.scopes)),
        principal.jti,
        principal.grant_id,
        principal.expires_at,
    )
    service = downstream_services(ctx.settings.downstream).get(service_name)
    with ctx.store.write() as tx:
        try:
            if service is None:
                raise InvalidTargetError("no downstream service of that name", cause=service_name[:64])
            requested = parse_scope(scope) if isinstance(scope, str) else tuple(scope or ())
            outcome: ExchangedToken | OAuthError = _issue(ctx, tx, subject, service, requested, ACCESS_TOKEN_TYPE, now)
        except OAuthError as exc:
            _refused(tx, exc, now, subject.client_id, subject.user_id, service, requested=scope)
            outcome = exc
    if isinstance(outcome, OAuthError):
        raise outcome
    return outcome


def _exchange_at_endpoint(
    ctx: ServiceContext, tx: Tx, creds: ClientCredentials, request: ExchangeRequest, now: int
) -> ExchangedToken | OAuthError:
    user_id: str | None = None
    service: DownstreamService | None = None
    try:
        client = authenticate_client(ctx, tx, creds, now)
        service = validate_target(request.audiences, request.resources, downstream_services(ctx.settings.downstream))
        subject = _verify_subject(ctx, request.subject_token, now)
        user_id = subject.user_id
        if subject.client_id != client.client_id:
            # A subject token works only for the client it was issued to: a stolen one is worthless elsewhere.
            raise InvalidSubjectTokenError("subject_token is invalid, expired or revoked", cause="another client")
        return _issue(ctx, tx, subject, service, request.scopes, request.requested_token_type, now)
    except OAuthError as exc:
        _refused(tx, exc, now, creds.client_id, user_id, service, requested=request.scopes)
        return exc


def _verify_subject(ctx: ServiceContext, token: str, now: int) -> SubjectToken:
    """The MCP endpoint's checks (signature, ``typ``, ``iss``, ``aud`` = Deputy's resource, ``exp``, ``iat``);
    revocation follows in ``_issue``, inside the transaction."""
    if len(token) > MAX_SUBJECT_TOKEN:
        raise InvalidSubjectTokenError("subject_token is invalid, expired or revoked", cause="length")
    settings = ctx.settings
    try:
        claims = verify_access_token(
            token, ctx.keys.verify_set, issuer=settings.issuer, audience=settings.resource_url, now=now, leeway=LEEWAY
        )
    except InvalidTokenError as exc:
        raise InvalidSubjectTokenError("subject_token is invalid, expired or revoked", cause=exc.cause) from None
    return SubjectToken(
        claims.subject,
        claims.client_id,
        claims.scopes,
        claims.jti,
        claims.grant_id,
        claims.expires_at,
        subject_act(token),
    )


def _issue(
    ctx: ServiceContext,
    tx: Tx,
    subject: SubjectToken,
    service: DownstreamService,
    requested: Sequence[str],
    token_type: str,
    now: int,
) -> ExchangedToken:
    if not _is_live(tx, subject):
        raise InvalidSubjectTokenError("subject_token is invalid, expired or revoked", cause="revoked")
    check_client_admitted(service, subject.client_id)
    scopes = validate_exchange_scope(requested, subject.scopes, service)
    expires_at = exchange_expiry(now, service.lifetime, subject.expires_at)
    token, jti = mint_exchanged_token(
        ctx.keys.current_signing,
        issuer=ctx.issuer,
        subject=subject,
        audience=service.audience,
        scopes=scopes,
        act=actor_claim(subject.client_id, subject.act),
        now=now,
        expires_at=expires_at,
    )
    audit(
        tx.audit,
        "token.exchanged",
        at=now,
        client_id=subject.client_id,
        user_id=subject.user_id,
        audience=service.audience,
        service=service.name,
        scope=format_scope(scopes),
        jti=jti,
        expires_at=expires_at,
    )
    return ExchangedToken(token, token_type, expires_at - now, scopes, service.audience, service.name, jti)


def _is_live(tx: Tx, subject: SubjectToken) -> bool:
    if tx.revocations.is_revoked(subject.jti):
        return False
    grant = tx.grants.load(subject.grant_id)
    return grant is not None and grant.revoked_at is None


def _refused(
    tx: Tx,
    exc: OAuthError,
    now: int,
    client_id: str,
    user_id: str | None,
    service: DownstreamService | None,
    *,
    requested: str | Sequence[str] | None,
) -> None:
    scope = requested if isinstance(requested, str) or requested is None else format_scope(requested)
    audit(
        tx.audit,
        "token.exchange_refused",
        at=now,
        outcome="refused",
        client_id=client_id[:128],
        user_id=user_id,
        audience=service.audience if service else None,
        service=service.name if service else None,
        scope=(scope or "")[:256],
        error=exc.error,
        reason=exc.cause or exc.description,
    )
