"""The browser leg: /authorize → consent → upstream → callback → Deputy's code.

Each function is one transaction (run in a worker thread by the HTTP layer). The upstream call between
``consume_callback`` and ``complete_callback`` happens outside any transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from deputy.audit.log import audit
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
from deputy.oauth.redirect_uri import is_loopback_redirect_uri, redirect_host
from deputy.oauth.redirects import authorization_response_url
from deputy.oauth.scopes import upstream_scopes_for
from deputy.oauth.tokens import new_code, new_id, new_secret
from deputy.service.context import ServiceContext
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
    "session_user",
    "start_authorization",
    "upstream_failure",
]

CSRF = "csrf"
BINDING = "binding"
STATE = "upstream-state"
SESSION = "session"
CODE = "code"


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


def _csrf_binding(csrf_cookie: str, token: str) -> str:
    # Double-submit, signed: the stored hash covers the browser's cookie and the form token together.
    return f"{csrf_cookie}|{token}"


def session_user(ctx: ServiceContext, session_cookie: str | None) -> User | None:
    if not session_cookie:
        return None
    with ctx.store.read() as tx:
        user_id = tx.sessions.load_user_id(ctx.keys.keyed_hash_candidates(SESSION, session_cookie), now=ctx.clock.now())
        return tx.users.load(user_id) if user_id else None


def start_authorization(
    ctx: ServiceContext, params: Mapping[str, str], *, csrf_cookie: str, user: User | None
) -> ConsentView:
    """Validate the request and open a PENDING flow. Nothing goes upstream and no state cookie exists yet.

    Raises:
        BrowserFlowError: before the client and redirect URI are validated (shown locally).
        AuthorizationRedirect: a later error, to the validated redirect URI.
    """
    now = ctx.clock.now()
    settings = ctx.settings
    with ctx.store.write() as tx:
        client = tx.clients.load(params.get("client_id", ""), now=now) if params.get("client_id") else None
        redirect_uri = validate_client_and_redirect(client, params.get("redirect_uri"))
        assert client is not None  # noqa: S101 (validate_client_and_redirect raised otherwise)
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
            audit(tx.audit, "authorize.refused", at=now, outcome="refused", client_id=client.client_id, error=exc.error)
            raise AuthorizationRedirect(exc, redirect_uri=redirect_uri, state=params.get("state")) from None
        token = new_secret()
        flow = Flow(
            flow_id=new_id("flw_"),
            client_id=client.client_id,
            redirect_uri=redirect_uri,
            scopes=request.scopes,
            code_challenge=request.code_challenge,
            resource=request.resource,
            state=request.state,
            status=FlowStatus.PENDING,
            created_at=now,
            expires_at=now + settings.lifetimes.flow,
            csrf_hash=ctx.keys.keyed_hash(CSRF, _csrf_binding(csrf_cookie, token)),
            session_user_id=user.user_id if user else None,
        )
        tx.flows.create(flow)
        audit(
            tx.audit,
            "consent.shown",
            at=now,
            client_id=client.client_id,
            user_id=flow.session_user_id,
            flow_id=flow.flow_id,
            redirect_uri=redirect_uri,
            scopes=" ".join(request.scopes),
        )
    return _consent_view(ctx, flow, token, client, request, user)


def _consent_view(
    ctx: ServiceContext, flow: Flow, token: str, client: Client, request: AuthorizationRequest, user: User | None
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
    state, binding = new_secret(), new_secret()
    verifier = make_verifier() if ctx.settings.upstream.pkce else None
    with ctx.store.write() as tx:
        flow = tx.flows.approve(
            flow_id,
            ctx.keys.keyed_hash_candidates(CSRF, _csrf_binding(csrf_cookie, csrf_token)),
            now=now,
            upstream_state_hash=ctx.keys.keyed_hash(STATE, state),
            binding_hash=ctx.keys.keyed_hash(BINDING, binding),
            upstream_verifier=ctx.vault.seal_bytes(f"flow|{flow_id}", verifier) if verifier else None,
        )
        if flow is None:
            audit(tx.audit, "consent.rejected", at=now, outcome="refused", flow_id=flow_id, reason="stale-or-csrf")
        else:
            audit(
                tx.audit,
                "consent.approved",
                at=now,
                client_id=flow.client_id,
                user_id=flow.session_user_id,
                flow_id=flow_id,
                redirect_uri=flow.redirect_uri,
                scopes=" ".join(flow.scopes),
            )
    if flow is None:
        raise _stale_consent()
    return ApprovedFlow(flow, state, binding, verifier, _upstream_scopes(ctx, flow.scopes))


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
    """CALLBACK → COMPLETED in one transaction: user, vault, consent, grant, code, session and audit."""
    now = ctx.clock.now()
    code = new_code()
    session_token: str | None = None
    with ctx.store.write() as tx:
        user = tx.users.upsert_by_subject(identity.subject, identity.display_name, now=now)
        _store_upstream_tokens(ctx, tx, user.user_id, tokens, now)
        tx.consents.record(Consent(user.user_id, flow.client_id, flow.redirect_uri, flow.scopes, now))
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
        if session_user_id != user.user_id:
            session_token = new_secret()
            tx.sessions.create(
                ctx.keys.keyed_hash(SESSION, session_token),
                user.user_id,
                now=now,
                expires_at=now + ctx.settings.lifetimes.browser_session,
            )
        uid, cid = user.user_id, flow.client_id
        audit(tx.audit, "callback.ok", at=now, client_id=cid, user_id=uid, flow_id=flow.flow_id)
        audit(
            tx.audit,
            "consent.recorded",
            at=now,
            client_id=cid,
            user_id=uid,
            redirect_uri=flow.redirect_uri,
            scopes=" ".join(flow.scopes),
        )
        audit(tx.audit, "code.issued", at=now, client_id=cid, user_id=uid, grant_id=grant.grant_id)
    url = authorization_response_url(flow.redirect_uri, {"code": code, "state": flow.state}, issuer=ctx.issuer)
    return CompletedFlow(url, session_token)


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
