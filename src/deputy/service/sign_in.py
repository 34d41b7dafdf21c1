"""Signing in to Deputy without connecting an application: the button on /apps for a browser with no session.

It is a flow of the consent state machine like any other (``deputy.consent.flow``), so it gets the same
guarantees: the form is CSRF-protected and approved through POST /consent, the upstream state and the browser
binding exist only from that approval on, and the callback is accepted only in the browser that approved. What
differs is its end: the callback learns who the user is and opens the session, and nothing else. No consent,
grant or code exists for it, and the upstream tokens of this sign-in (identity scopes only) are dropped rather
than replacing the credential the user's applications rely on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from deputy.audit.log import audit
from deputy.oauth.models import Flow, FlowStatus
from deputy.oauth.tokens import new_id, new_secret
from deputy.service.browser_session import CSRF, csrf_binding, new_session
from deputy.service.context import ServiceContext
from deputy.upstream.client import UpstreamIdentity

__all__ = ["SIGN_IN_CLIENT", "SignInView", "complete_sign_in", "start_sign_in"]

# The client_id of sign-in flows. Never a real client's: minted and configured ids have no ':', and a client
# metadata document's is an https URL.
SIGN_IN_CLIENT: Final = "deputy:sign-in"


@dataclass(frozen=True)
class SignInView:
    flow_id: str
    csrf_token: str


def start_sign_in(ctx: ServiceContext, *, csrf_cookie: str) -> SignInView:
    """Open a PENDING sign-in flow whose end is /apps."""
    now = ctx.clock.now()
    token = new_secret()
    flow = Flow(
        flow_id=new_id("flw_"),
        client_id=SIGN_IN_CLIENT,
        redirect_uri=ctx.issuer + "/apps",
        scopes=(),
        code_challenge="",
        resource=ctx.settings.resource_url,
        state=None,
        status=FlowStatus.PENDING,
        created_at=now,
        expires_at=now + ctx.settings.lifetimes.flow,
        csrf_hash=ctx.keys.keyed_hash(CSRF, csrf_binding(csrf_cookie, token)),
    )
    with ctx.store.write() as tx:
        tx.flows.create(flow)
        audit(tx.audit, "signin.shown", at=now, flow_id=flow.flow_id)
    return SignInView(flow.flow_id, token)


def complete_sign_in(
    ctx: ServiceContext, flow: Flow, identity: UpstreamIdentity, session_user_id: str | None
) -> tuple[str, str | None]:
    """CALLBACK → COMPLETED: returns where the browser goes (/apps) and a new session token when it needs one."""
    now = ctx.clock.now()
    with ctx.store.write() as tx:
        user = tx.users.upsert_by_subject(identity.subject, identity.display_name, now=now)
        tx.flows.finish(flow.flow_id, FlowStatus.COMPLETED)
        token = new_session(ctx, tx, user.user_id, now) if session_user_id != user.user_id else None
        audit(tx.audit, "signin.ok", at=now, user_id=user.user_id, flow_id=flow.flow_id)
    return flow.redirect_uri, token
