"""The applications a user has connected, and withdrawing one: by the user on /apps, or by an operator.

Withdrawing access revokes the user's consents for the client and every grant (token family) of the pair in one
transaction: refresh tokens stop at once, and access tokens within the resource server's revocation poll
(``deputy.resource.revocations``, well under a second). The user's upstream credential stays in the vault: it is
the user's, shared by all their applications, and the other applications still rely on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal
from urllib.parse import urlsplit

from deputy.audit.log import audit
from deputy.oauth.client_metadata import is_client_id_url
from deputy.oauth.models import Client, ClientKind, User
from deputy.oauth.redirect_uri import redirect_host
from deputy.service.context import ServiceContext
from deputy.storage.sql.identity import ConsentEntry

__all__ = [
    "APPS_CSRF",
    "MAX_CLIENT_ID",
    "Actor",
    "Approval",
    "AppsView",
    "ConnectedApp",
    "Revocation",
    "apps_csrf_token",
    "check_apps_csrf",
    "display_host",
    "list_connected_apps",
    "revoke_access",
]

APPS_CSRF: Final = "apps-csrf"
MAX_CLIENT_ID: Final = 200  # the width of every client_id column
Actor = Literal["user", "operator"]
Identity = Literal["unverified", "operator", "domain", "unknown"]


@dataclass(frozen=True)
class Approval:
    """One approved (redirect URI, scopes) of an application."""

    redirect_uri: str
    redirect_host: str
    scopes: tuple[str, ...]
    approved_at: int
    last_used_at: int | None
    remember_until: int | None  # only while it still stands in for the consent page
    reauth_required: bool


@dataclass(frozen=True)
class ConnectedApp:
    """What the user can tell about an application: a registration's name is self-asserted (``unverified``),
    a configured client's is the operator's (``operator``), and a metadata document client is known by the domain
    it is served from (``domain``)."""

    client_id: str
    name: str | None
    identity: Identity
    domain: str | None
    disabled: bool
    approvals: tuple[Approval, ...]
    last_used_at: int | None

    @property
    def scopes(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s for a in self.approvals for s in a.scopes))


@dataclass(frozen=True)
class AppsView:
    user: User
    apps: tuple[ConnectedApp, ...]
    csrf_token: str


@dataclass(frozen=True)
class Revocation:
    consents: int
    grants: int


def apps_csrf_token(ctx: ServiceContext, csrf_cookie: str, user_id: str) -> str:
    """The form token of /apps: signed double-submit, an HMAC of this browser's CSRF cookie and the signed-in user.
    Nothing is stored: a page can be reloaded in several tabs and every form stays valid."""
    return ctx.keys.keyed_hash(APPS_CSRF, f"{csrf_cookie}|{user_id}")


def check_apps_csrf(ctx: ServiceContext, csrf_cookie: str, user_id: str, token: str) -> bool:
    return ctx.keys.check_keyed_hash(APPS_CSRF, f"{csrf_cookie}|{user_id}", token)


def display_host(uri: str) -> str:
    """The redirect host with its port: a loopback redirect may vary only the port."""
    parts = urlsplit(uri)
    return parts.netloc if parts.scheme in ("http", "https") and parts.netloc else redirect_host(uri)


def list_connected_apps(ctx: ServiceContext, user: User, *, csrf_cookie: str) -> AppsView:
    """Every application with an unrevoked consent of the user, most recently approved first."""
    now = ctx.clock.now()
    with ctx.store.read() as tx:
        entries = [e for e in tx.consents.list_entries(user.user_id) if e.consent.revoked_at is None]
        by_client: dict[str, list[ConsentEntry]] = {}
        for entry in entries:
            by_client.setdefault(entry.consent.client_id, []).append(entry)
        clients = {cid: tx.clients.load_record(cid) for cid in by_client}
        issued = tx.grants.last_issued(user_id=user.user_id)
    remembering = ctx.settings.consent.prompt == "remember"
    apps = [
        _app(cid, clients[cid], group, issued.get(cid), remembering=remembering, now=now)
        for cid, group in by_client.items()
    ]
    apps.sort(key=lambda a: max(x.approved_at for x in a.approvals), reverse=True)
    return AppsView(user, tuple(apps), apps_csrf_token(ctx, csrf_cookie, user.user_id))


def _app(
    client_id: str,
    client: Client | None,
    entries: list[ConsentEntry],
    issued: int | None,
    *,
    remembering: bool,
    now: int,
) -> ConnectedApp:
    approvals = tuple(_approval(e, remembering=remembering, now=now) for e in entries)
    used = [t for t in (issued, *(a.last_used_at for a in approvals)) if t is not None]
    document = is_client_id_url(client_id)
    identity: Identity = "domain" if document else _identity(client)
    name = client.client_name if client is not None and not document else None
    return ConnectedApp(
        client_id=client_id,
        name=name,
        identity=identity,
        domain=urlsplit(client_id).hostname if document else None,
        disabled=client is not None and client.disabled_at is not None,
        approvals=approvals,
        last_used_at=max(used) if used else None,
    )


def _identity(client: Client | None) -> Identity:
    if client is None:
        return "unknown"
    return "operator" if client.kind is ClientKind.STATIC else "unverified"


def _approval(entry: ConsentEntry, *, remembering: bool, now: int) -> Approval:
    c = entry.consent
    until = entry.remember_until
    standing = remembering and until is not None and until > now and c.reauth_required_at is None
    return Approval(
        redirect_uri=c.redirect_uri,
        redirect_host=display_host(c.redirect_uri),
        scopes=c.scopes,
        approved_at=c.approved_at,
        last_used_at=c.last_used_at,
        remember_until=until if standing else None,
        reauth_required=c.reauth_required_at is not None,
    )


def revoke_access(ctx: ServiceContext, user_id: str, client_id: str, *, actor: Actor) -> Revocation:
    """Revoke the user's consents for the client and every grant of the pair, audited as
    ``consent.revoked_by_user`` or ``consent.revoked_by_operator``. Someone else's pair is simply not touched:
    the user is the session's (or the operator's choice), never a form field."""
    if len(client_id) > MAX_CLIENT_ID:  # no client has such an id, and it would not fit the audit entry
        return Revocation(0, 0)
    now = ctx.clock.now()
    with ctx.store.write() as tx:
        consents = tx.consents.revoke(user_id, client_id, now=now)
        grants = tx.grants.revoke_for(user_id, client_id, now=now, reason=f"revoked-by-{actor}")
        audit(
            tx.audit,
            f"consent.revoked_by_{actor}",
            at=now,
            outcome="ok" if consents or grants else "ignored",
            client_id=client_id,
            user_id=user_id,
            consents=consents,
            grants=len(grants),
        )
    return Revocation(consents, len(grants))
