"""The browser leg: /authorize → consent → upstream → callback → Deputy's code.

Each function is one transaction (run in a worker thread by the HTTP layer). The upstream call between
``consume_callback`` and ``complete_callback`` happens outside any transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from deputy.audit.log import audit
from deputy.consent.remember import check_navigation, remember_until
from deputy.errors import (
    AccessDeniedError,
    AuthorizationRedirect,
    BrowserFlowError,
    OAuthError,
    ServerError,
    TemporarilyUnavailableError,
)
from deputy.oauth.authorize import AuthorizationRequest, validate_client_and_redirect, validate_request
from deputy.oauth.models import AuthorizationCode, Client, ClientKind, Consent, Flow, FlowStatus, Grant, User
from deputy.oauth.pkce import make_verifier
from deputy.oauth.redirect_uri import is_loopback_redirect_uri, is_on_origin, redirect_host
from deputy.oauth.redirects import authorization_response_url
from deputy.oauth.scopes import upstream_scopes_for
from deputy.oauth.tokens import new_code, new_id, new_secret
from deputy.service.browser_session import BINDING, CODE, CSRF, STATE, csrf_binding, new_session
from deputy.service.browser_session import SESSION as SESSION
from deputy.service.client_documents import (
    ClientDocumentError,
    DocumentClient,
    is_document_client_id,
    load_document_client,
)
from deputy.service.context import ServiceContext
from deputy.service.sign_in import SIGN_IN_CLIENT, complete_sign_in
from deputy.storage.sql.identity import ConsentKey
from deputy.storage.sql.store import Tx
from deputy.upstream.client import UpstreamIdentity, UpstreamTokenResponse

__all__ = [
    "ApprovedFlow",
    "CompletedFlow",
    "ConsentView",
    "approve",
    "complete_callback",
    "consume_callback",
    "deny",
    "fail_callback",
    "resolve_document_client",
    "session_user",
    "start_authorization",
    "upstream_failure",
]


_csrf_binding = csrf_binding  # the name deputy.intents imports


@dataclass(frozen=True)
class ConsentView:
    """Everything the consent page shows; the client name comes from the registration record, never the query."""

    flow_id: str
    csrf_token: str
    client: Client
    request: AuthorizationRequest
    upstream_name: str
    upstream_scopes: tuple[str, ...]
    scope_descriptions: tuple[tuple[str, str], ...]
    redirect_host: str
    loopback_only: bool
    unverified: bool
    user: User | None
    verified_domain: str | None = None
    """For a client metadata document: the host it was fetched from, the one identity Deputy can vouch for."""
    remember_days: int | None = None
    """Under ``consent.prompt = "remember"``: how long an approval on this page will stand in for it."""


@dataclass(frozen=True)
class ApprovedFlow:
    flow: Flow
    upstream_state: str
    binding_token: str
    code_verifier: str | None
    upstream_scopes: tuple[str, ...]


@dataclass(frozen=True)
class CompletedFlow:
    redirect_url: str
    session_token: str | None


def session_user(ctx: ServiceContext, session_cookie: str | None) -> User | None:
    if not session_cookie:
        return None
    with ctx.store.read() as tx:
        user_id = tx.sessions.load_user_id(ctx.keys.keyed_hash_candidates(SESSION, session_cookie), now=ctx.clock.now())
        return tx.users.load(user_id) if user_id else None


async def resolve_document_client(ctx: ServiceContext, client_id: str | None) -> DocumentClient | None:
    """For an https ``client_id``, the client its metadata document describes, fetched before the transaction of
    :func:`start_authorization`; ``None`` for any other client_id.

    Raises:
        BrowserFlowError: the document cannot be fetched or used. Shown locally, never redirected: the redirect URI
            is not validated, and cannot be without the document.
    """
    if not is_document_client_id(ctx, client_id):
        return None
    try:
        return await load_document_client(ctx, client_id or "")
    except ClientDocumentError as exc:
        raise BrowserFlowError(
            "Unknown application",
            "Deputy could not load a valid description of this application from its address.",
            cause=exc.reason,
        ) from None


def _load_client(tx: Tx, client_id: str | None, document: DocumentClient | None, now: int) -> Client | None:
    """The registered client, or the one a document describes; a document URL is never looked up as a row.

    Raises:
        BrowserFlowError: the operator disabled the client (shown locally, never redirected).
    """
    if document is not None and client_id == document.client.client_id:
        client: Client | None = document.client
    elif not client_id or "://" in client_id:
        return None
    else:
        client = tx.clients.load(client_id, now=now)
    if client_id and (client is None or client.kind is ClientKind.DOCUMENT) and tx.clients.is_disabled(client_id):
        raise BrowserFlowError(
            "Application disabled",
            "The operator of this service has disabled this application. Nothing was shared.",
            status=403,
            cause="client disabled",
        )
    return client


def start_authorization(
    ctx: ServiceContext,
    params: Mapping[str, str],
    *,
    csrf_cookie: str,
    user: User | None,
    document: DocumentClient | None = None,
    fetch_site: str | None = None,
) -> ConsentView | ApprovedFlow:
    """Validate the request and open a PENDING flow. Nothing goes upstream and no state cookie exists yet.
    ``document`` is the client resolved by :func:`resolve_document_client`, for an https client_id.

    Returns the consent page to show, or, when a remembered consent of the signed-in ``user`` applies to this
    navigation (``fetch_site`` is its ``Sec-Fetch-Site``; docs/consent.md), the flow already APPROVED, to be sent
    upstream exactly like an approval on the page.

    Raises:
        BrowserFlowError: before the client and redirect URI are validated (shown locally).
        AuthorizationRedirect: a later error, to the validated redirect URI.
    """
    now = ctx.clock.now()
    settings = ctx.settings
    refused: AuthorizationRedirect | None = None
    with ctx.store.write() as tx:
        client = _load_client(tx, params.get("client_id"), document, now)
        redirect_uri = validate_client_and_redirect(client, params.get("redirect_uri"))
        assert client is not None  # noqa: S101 (validate_client_and_redirect raised otherwise)
        if is_on_origin(redirect_uri, ctx.issuer):  # see is_on_origin: never redirect back into Deputy itself
            raise BrowserFlowError("Invalid redirect URI", "This application's redirect URI points at Deputy itself.")
        try:
            request = validate_request(
                params,
                client,
                redirect_uri,
                resource_url=settings.resource_url,
                known_scopes=tuple(settings.scopes),
                default_scopes=settings.effective_default_scopes,
            )
        except OAuthError as exc:
            # Raised only after this transaction commits: raising inside it would roll the audit entry back.
            audit(tx.audit, "authorize.refused", at=now, outcome="refused", client_id=client.client_id, error=exc.error)
            refused = AuthorizationRedirect(exc, redirect_uri=redirect_uri, state=params.get("state"))
        else:
            flow, token, approved = _open_flow(ctx, tx, client, request, csrf_cookie, user, fetch_site, now)
    if refused is not None:
        raise refused
    if approved is not None:
        return approved
    return _consent_view(ctx, flow, token, client, request, user, document.domain if document else None)


def _open_flow(
    ctx: ServiceContext,
    tx: Tx,
    client: Client,
    request: AuthorizationRequest,
    csrf_cookie: str,
    user: User | None,
    fetch_site: str | None,
    now: int,
) -> tuple[Flow, str, ApprovedFlow | None]:
    """The PENDING flow for a valid request, approved at once when a remembered consent applies."""
    token = new_secret()
    flow = Flow(
        flow_id=new_id("flw_"),
        client_id=client.client_id,
        redirect_uri=request.redirect_uri,
        scopes=request.scopes,
        code_challenge=request.code_challenge,
        resource=request.resource,
        state=request.state,
        status=FlowStatus.PENDING,
        created_at=now,
        expires_at=now + ctx.settings.lifetimes.flow,
        csrf_hash=ctx.keys.keyed_hash(CSRF, _csrf_binding(csrf_cookie, token)),
        session_user_id=user.user_id if user else None,
    )
    tx.flows.create(flow)
    approved = _approve_remembered(ctx, tx, flow, user, fetch_site, _csrf_binding(csrf_cookie, token), now)
    if approved is None:
        audit(
            tx.audit,
            "consent.shown",
            at=now,
            client_id=client.client_id,
            user_id=flow.session_user_id,
            flow_id=flow.flow_id,
            redirect_uri=request.redirect_uri,
            scopes=" ".join(request.scopes),
        )
    return flow, token, approved


def _approve_remembered(
    ctx: ServiceContext, tx: Tx, flow: Flow, user: User | None, fetch_site: str | None, csrf_value: str, now: int
) -> ApprovedFlow | None:
    """PENDING → APPROVED without the page, through the same guarded transition as a click on Approve, when the
    session's user approved this exact (client, redirect URI, scopes) on the page under ``prompt = "remember"``,
    the approval still stands, and the navigation did not come from another site."""
    if ctx.settings.consent.prompt != "remember" or user is None or not check_navigation(fetch_site):
        return None
    until = tx.consents.load_remember_until(
        ConsentKey(user.user_id, flow.client_id, flow.redirect_uri, flow.scopes), now=now
    )
    if until is None:
        return None
    approved = _approve_pending(ctx, tx, flow.flow_id, [ctx.keys.keyed_hash(CSRF, csrf_value)], now)
    if approved is not None:
        tx.flows.mark_remembered(flow.flow_id, now)
        audit(
            tx.audit,
            "consent.remembered",
            at=now,
            client_id=flow.client_id,
            user_id=user.user_id,
            flow_id=flow.flow_id,
            redirect_uri=flow.redirect_uri,
            scopes=" ".join(flow.scopes),
            remember_until=until,
        )
        _audit_approved(tx, approved.flow, now)
    return approved


def _consent_view(
    ctx: ServiceContext,
    flow: Flow,
    token: str,
    client: Client,
    request: AuthorizationRequest,
    user: User | None,
    domain: str | None,
) -> ConsentView:
    settings = ctx.settings
    return ConsentView(
        flow_id=flow.flow_id,
        csrf_token=token,
        client=client,
        request=request,
        upstream_name=settings.upstream.name,
        upstream_scopes=_upstream_scopes(ctx, request.scopes),
        scope_descriptions=tuple((s, settings.scopes[s].description) for s in request.scopes),
        redirect_host=_display_host(request.redirect_uri),
        loopback_only=is_loopback_redirect_uri(request.redirect_uri),
        unverified=client.kind is ClientKind.DYNAMIC,
        user=user,
        verified_domain=domain if client.kind is ClientKind.DOCUMENT else None,
        remember_days=settings.consent.remember_days if settings.consent.prompt == "remember" else None,
    )


def _display_host(uri: str) -> str:
    """The host to emphasise on the consent page; with its port, since a loopback redirect may vary only the port
    and two programs on one machine differ by nothing else."""
    parts = urlsplit(uri)
    return parts.netloc if parts.scheme in ("http", "https") and parts.netloc else redirect_host(uri)


def _upstream_scopes(ctx: ServiceContext, scopes: tuple[str, ...]) -> tuple[str, ...]:
    mapping = {name: s.upstream for name, s in ctx.settings.scopes.items()}
    return upstream_scopes_for(scopes, mapping, ctx.settings.upstream.scopes)


def _stale_consent() -> BrowserFlowError:
    return BrowserFlowError(
        "This request is no longer valid",
        "The consent form was already used, has expired, or was not opened in this browser. "
        "Start again from the application.",
        status=400,
    )


def approve(ctx: ServiceContext, flow_id: str, csrf_token: str, csrf_cookie: str) -> ApprovedFlow:
    """PENDING → APPROVED: the consent decision is recorded before anything goes upstream (invariant 1).

    Raises:
        BrowserFlowError: unknown, expired or already decided flow, or a CSRF mismatch.
    """
    now = ctx.clock.now()
    with ctx.store.write() as tx:
        approved = _approve_pending(
            ctx, tx, flow_id, ctx.keys.keyed_hash_candidates(CSRF, _csrf_binding(csrf_cookie, csrf_token)), now
        )
        if approved is None:
            audit(tx.audit, "consent.rejected", at=now, outcome="refused", flow_id=flow_id, reason="stale-or-csrf")
        else:
            _audit_approved(tx, approved.flow, now)
    if approved is None:
        raise _stale_consent()
    return approved


def _approve_pending(
    ctx: ServiceContext, tx: Tx, flow_id: str, csrf_hashes: list[str], now: int
) -> ApprovedFlow | None:
    """The one guarded PENDING → APPROVED transition; the upstream state and browser binding exist only from here."""
    state, binding = new_secret(), new_secret()
    verifier = make_verifier() if ctx.settings.upstream.pkce else None
    flow = tx.flows.approve(
        flow_id,
        csrf_hashes,
        now=now,
        upstream_state_hash=ctx.keys.keyed_hash(STATE, state),
        binding_hash=ctx.keys.keyed_hash(BINDING, binding),
        upstream_verifier=ctx.vault.seal_bytes(f"flow|{flow_id}", verifier) if verifier else None,
    )
    if flow is None:
        return None
    return ApprovedFlow(flow, state, binding, verifier, _upstream_scopes(ctx, flow.scopes))


def _audit_approved(tx: Tx, flow: Flow, now: int) -> None:
    audit(
        tx.audit,
        "signin.approved" if flow.client_id == SIGN_IN_CLIENT else "consent.approved",
        at=now,
        client_id=flow.client_id,
        user_id=flow.session_user_id,
        flow_id=flow.flow_id,
        redirect_uri=flow.redirect_uri,
        scopes=" ".join(flow.scopes),
    )


def deny(ctx: ServiceContext, flow_id: str, csrf_token: str, csrf_cookie: str) -> str:
    """PENDING → DENIED; returns the redirect carrying ``access_denied`` to the registered redirect URI.

    Raises:
        BrowserFlowError: as ``approve``.
    """
    now = ctx.clock.now()
    with ctx.store.write() as tx:
        flow = tx.flows.deny(
            flow_id, ctx.keys.keyed_hash_candidates(CSRF, _csrf_binding(csrf_cookie, csrf_token)), now=now
        )
        if flow is not None:
            audit(
                tx.audit,
                "consent.denied",
                at=now,
                client_id=flow.client_id,
                user_id=flow.session_user_id,
                flow_id=flow_id,
            )
    if flow is None:
        raise _stale_consent()
    err = AccessDeniedError("the user denied the request")
    return authorization_response_url(
        flow.redirect_uri,
        {"error": err.error, "error_description": err.description, "state": flow.state},
        issuer=ctx.issuer,
    )


def consume_callback(
    ctx: ServiceContext, *, state: str | None, binding_cookie: str | None, iss: str | None, expected_iss: str | None
) -> tuple[Flow, str | None]:
    """APPROVED → CALLBACK: consume the upstream state once and require the browser that approved.

    Returns the flow and Deputy's upstream PKCE verifier.

    Raises:
        BrowserFlowError: missing, unknown, replayed or expired state; another browser; upstream ``iss`` mismatch.
    """
    now = ctx.clock.now()
    if not state:
        raise BrowserFlowError("Sign-in failed", "The sign-in response carried no state. Start again.")
    hashes = ctx.keys.keyed_hash_candidates(STATE, state)
    with ctx.store.write() as tx:
        consumed = tx.flows.consume_upstream_state(hashes, now=now)
        if consumed is None:
            status = tx.flows.describe_state(hashes)
            audit(
                tx.audit,
                "callback.failed",
                at=now,
                outcome="refused",
                reason="replayed" if status is not None else "unknown-or-expired",
            )
        else:
            failure = _callback_failure(ctx, consumed.binding_hash, binding_cookie, iss, expected_iss)
            if failure:
                tx.flows.finish(consumed.flow.flow_id, FlowStatus.FAILED)
                audit(
                    tx.audit,
                    "callback.failed",
                    at=now,
                    outcome="refused",
                    client_id=consumed.flow.client_id,
                    flow_id=consumed.flow.flow_id,
                    reason=failure,
                )
    if consumed is None:
        raise BrowserFlowError("Sign-in failed", "This sign-in response was already used or has expired. Start again.")
    if failure:
        raise BrowserFlowError("Sign-in failed", _FAILURE_TEXT[failure], status=403)
    flow = consumed.flow
    verifier = (
        ctx.vault.open_bytes(f"flow|{flow.flow_id}", consumed.upstream_verifier) if consumed.upstream_verifier else None
    )
    return flow, verifier


_FAILURE_TEXT = {
    "binding": "This sign-in was approved in a different browser. For your safety it cannot be finished here.",
    "iss": "The sign-in response came from an unexpected authorization server.",
}


def _callback_failure(
    ctx: ServiceContext, binding_hash: str, cookie: str | None, iss: str | None, expected_iss: str | None
) -> str | None:
    if not cookie or not binding_hash or not ctx.keys.check_keyed_hash(BINDING, cookie, binding_hash):
        return "binding"
    if iss is not None and expected_iss is not None and iss != expected_iss:
        return "iss"
    return None


def fail_callback(ctx: ServiceContext, flow: Flow, error: OAuthError, *, reason: str) -> str:
    """CALLBACK → FAILED; the error goes to the client's validated redirect URI."""
    now = ctx.clock.now()
    with ctx.store.write() as tx:
        tx.flows.finish(flow.flow_id, FlowStatus.FAILED)
        audit(
            tx.audit,
            "callback.failed",
            at=now,
            outcome="error",
            client_id=flow.client_id,
            flow_id=flow.flow_id,
            reason=reason,
            error=error.error,
        )
    return authorization_response_url(
        flow.redirect_uri,
        {"error": error.error, "error_description": error.description, "state": flow.state},
        issuer=ctx.issuer,
    )


def complete_callback(
    ctx: ServiceContext,
    flow: Flow,
    identity: UpstreamIdentity,
    tokens: UpstreamTokenResponse,
    *,
    session_user_id: str | None,
) -> CompletedFlow:
    """CALLBACK → COMPLETED in one transaction: user, vault, consent, grant, code, session and audit.

    A flow approved from a remembered consent completes only for the user it was remembered for, and only while
    that consent still stands; otherwise it ends FAILED, nothing is stored, and the client gets ``access_denied``.
    The sign-in flow of /apps only sets the session.
    """
    if flow.client_id == SIGN_IN_CLIENT:
        return CompletedFlow(*complete_sign_in(ctx, flow, identity, session_user_id))
    now = ctx.clock.now()
    code = new_code()
    session_token: str | None = None
    with ctx.store.write() as tx:
        remembered = tx.flows.remembered_at(flow.flow_id) is not None
        refusal = _remembered_refusal(ctx, tx, flow, identity.subject, now) if remembered else None
        if refusal is None:
            user = tx.users.upsert_by_subject(identity.subject, identity.display_name, now=now)
            _store_upstream_tokens(ctx, tx, user.user_id, tokens, now)
            _issue_code(ctx, tx, flow, user, code, remembered, now)
            if session_user_id != user.user_id:
                session_token = new_session(ctx, tx, user.user_id, now)
        else:
            tx.flows.finish(flow.flow_id, FlowStatus.FAILED)
            audit(
                tx.audit,
                "callback.failed",
                at=now,
                outcome="refused",
                client_id=flow.client_id,
                user_id=flow.session_user_id,
                flow_id=flow.flow_id,
                reason=refusal,
            )
    if refusal is not None:
        err = AccessDeniedError("the remembered approval does not apply to this sign-in")
        params = {"error": err.error, "error_description": err.description, "state": flow.state}
        return CompletedFlow(authorization_response_url(flow.redirect_uri, params, issuer=ctx.issuer), None)
    url = authorization_response_url(flow.redirect_uri, {"code": code, "state": flow.state}, issuer=ctx.issuer)
    return CompletedFlow(url, session_token)


def _remembered_refusal(ctx: ServiceContext, tx: Tx, flow: Flow, subject: str, now: int) -> str | None:
    """Why a flow approved without the page may not complete: the upstream signed in someone other than the user
    whose approval was remembered, or that approval was revoked, expired or switched off meanwhile."""
    user = tx.users.load(flow.session_user_id) if flow.session_user_id else None
    if user is None or user.upstream_subject != subject:
        return "remembered-for-another-user"
    key = ConsentKey(user.user_id, flow.client_id, flow.redirect_uri, flow.scopes)
    if ctx.settings.consent.prompt != "remember" or tx.consents.load_remember_until(key, now=now) is None:
        return "remembered-consent-withdrawn"
    return None


def _issue_code(ctx: ServiceContext, tx: Tx, flow: Flow, user: User, code: str, remembered: bool, now: int) -> None:
    """Consent, grant, code and audit, for the user the upstream signed in."""
    until = _save_consent(ctx, tx, flow, user.user_id, remembered, now)
    grant = Grant(new_id("grt_"), user.user_id, flow.client_id, flow.scopes, flow.resource, now)
    tx.grants.create(grant)
    tx.codes.save(
        AuthorizationCode(
            ctx.keys.keyed_hash(CODE, code),
            grant.grant_id,
            flow.client_id,
            flow.redirect_uri,
            flow.code_challenge,
            flow.resource,
            flow.scopes,
            user.user_id,
            now + ctx.settings.lifetimes.authorization_code,
        )
    )
    tx.flows.finish(flow.flow_id, FlowStatus.COMPLETED)
    uid, cid = user.user_id, flow.client_id
    audit(tx.audit, "callback.ok", at=now, client_id=cid, user_id=uid, flow_id=flow.flow_id)
    audit(
        tx.audit,
        "consent.used" if remembered else "consent.recorded",
        at=now,
        client_id=cid,
        user_id=uid,
        redirect_uri=flow.redirect_uri,
        scopes=" ".join(flow.scopes),
        remember_until=until,
    )
    audit(tx.audit, "code.issued", at=now, client_id=cid, user_id=uid, grant_id=grant.grant_id)


def _save_consent(ctx: ServiceContext, tx: Tx, flow: Flow, user_id: str, remembered: bool, now: int) -> int | None:
    """Record an approval made on the page, remembered only under ``prompt = "remember"`` (an approval made under
    "always" never stands in for the page later); returns until when it is remembered. A remembered approval is
    only marked used: its approval time and its expiry stay those of the click on the page."""
    key = ConsentKey(user_id, flow.client_id, flow.redirect_uri, flow.scopes)
    until: int | None = None
    if not remembered:
        tx.consents.record(Consent(user_id, flow.client_id, flow.redirect_uri, flow.scopes, now))
        settings = ctx.settings.consent
        until = remember_until(now, settings.remember_days) if settings.prompt == "remember" else None
        tx.consents.remember(key, until=until)
    tx.consents.mark_used(key, now=now)
    return until


def _store_upstream_tokens(ctx: ServiceContext, tx: Tx, user_id: str, tokens: UpstreamTokenResponse, now: int) -> None:
    upstream = ctx.settings.upstream.name
    expires_at = now + tokens.expires_in if tokens.expires_in else None
    tx.vault.put(
        ctx.vault.seal(
            user_id=user_id,
            upstream=upstream,
            purpose="access_token",
            secret=tokens.access_token,
            expires_at=expires_at,
            now=now,
        )
    )
    if tokens.refresh_token:
        tx.vault.put(
            ctx.vault.seal(
                user_id=user_id,
                upstream=upstream,
                purpose="refresh_token",
                secret=tokens.refresh_token,
                expires_at=None,
                now=now,
            )
        )


def upstream_failure(error: str, unavailable: bool) -> OAuthError:
    """Map an upstream failure at the callback to what the client is told."""
    if error == "access_denied":
        return AccessDeniedError("the user denied access at the upstream service")
    if unavailable:
        return TemporarilyUnavailableError("the upstream service is unavailable")
    return ServerError("the upstream service refused the sign-in")
