"""Operator actions on clients: list, describe, disable and enable (``deputy clients …``).

Disabling a client refuses it at once everywhere: /authorize shows a local error page (never a redirect to it), and
/token answers ``invalid_client`` (within the one-second bound of the clients cache, ``deputy.service.cache``).
Every grant it holds is revoked, so its refresh tokens stop at once and its access tokens within the resource
server's revocation poll; and no consent for it stands in for the consent page any more. Enabling lifts the refusal
only: revoked grants stay revoked, and every user is asked again. A configured client stays disabled across
restarts, and /register cannot bring a client back, since it mints every client_id itself.

A client metadata document is not a registration. Disabling one stores a row that records only the refusal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from deputy.audit.log import audit
from deputy.errors import DeputyError, OAuthError
from deputy.oauth.client_metadata import is_client_id_url, validate_client_id_url
from deputy.oauth.models import Client, ClientKind
from deputy.service.context import ServiceContext
from deputy.storage.sql.store import Tx

__all__ = [
    "ClientReport",
    "Disabled",
    "KindFilter",
    "UnknownClientError",
    "describe_client",
    "disable_client",
    "enable_client",
    "list_clients",
]

KindFilter = Literal["registered", "static", "all"]
_KINDS: dict[KindFilter, frozenset[ClientKind]] = {
    "registered": frozenset({ClientKind.DYNAMIC}),
    "static": frozenset({ClientKind.STATIC}),
    "all": frozenset(ClientKind),
}


class UnknownClientError(DeputyError):
    """No client has this id."""


@dataclass(frozen=True)
class ClientReport:
    """A client for an operator: its record (``None`` for a document client Deputy holds nothing about), how many
    users' consents for it stand, and when it was last given tokens."""

    client_id: str
    client: Client | None
    document: bool
    live_consents: int
    last_used_at: int | None


@dataclass(frozen=True)
class Disabled:
    newly: bool  # False: it was disabled already
    grants: int
    forgotten: int  # consents that no longer stand in for the consent page


def list_clients(ctx: ServiceContext, kind: KindFilter) -> list[Client]:
    with ctx.store.read() as tx:
        return [c for c in tx.clients.list_all() if c.kind in _KINDS[kind]]


def describe_client(ctx: ServiceContext, client_id: str) -> ClientReport:
    """Raises:
    UnknownClientError: neither a stored client nor a document URL.
    """
    with ctx.store.read() as tx:
        client = tx.clients.load_record(client_id)
        document = is_client_id_url(client_id)
        if client is None and not document:
            raise UnknownClientError(f"no client {client_id!r}")
        consents = tx.consents.count_live_for_client(client_id)
        issued = tx.grants.last_issued(client_id=client_id).get(client_id)
    used = [t for t in (issued, client.last_used_at if client else None) if t is not None]
    return ClientReport(client_id, client, document, consents, max(used) if used else None)


def disable_client(ctx: ServiceContext, client_id: str) -> Disabled:
    """Refuse the client from now on and revoke every grant it holds; audited as ``client.disabled``.

    Raises:
        UnknownClientError: no such registered or configured client, and not a usable document URL.
    """
    now = ctx.clock.now()
    with ctx.store.write() as tx:
        newly = _disable(tx, client_id, now)
        grants = tx.grants.revoke_client(client_id, now=now, reason="client-disabled")
        forgotten = tx.consents.forget_client(client_id)
        audit(
            tx.audit,
            "client.disabled",
            at=now,
            outcome="ok" if newly else "ignored",
            client_id=client_id,
            grants=len(grants),
            remembered_consents=forgotten,
        )
    ctx.clients_cache.pop(client_id)
    return Disabled(newly, len(grants), forgotten)


def _disable(tx: Tx, client_id: str, now: int) -> bool:
    if _check_known(tx, client_id):
        return tx.clients.disable_document(client_id, now)
    return tx.clients.disable(client_id, now)


def _check_known(tx: Tx, client_id: str) -> bool:
    """True for a document URL, False for a stored client.

    Raises:
        UnknownClientError: neither.
    """
    if is_client_id_url(client_id):
        try:
            validate_client_id_url(client_id)
        except OAuthError:
            raise UnknownClientError(f"{client_id!r} is not a usable client metadata document URL") from None
        return True
    if tx.clients.load_record(client_id) is None:
        raise UnknownClientError(f"no client {client_id!r}")
    return False


def enable_client(ctx: ServiceContext, client_id: str) -> bool:
    """Lift the refusal (revoked grants stay revoked); audited as ``client.enabled``. False if it was not disabled.

    Raises:
        UnknownClientError: no such client.
    """
    now = ctx.clock.now()
    with ctx.store.write() as tx:
        _check_known(tx, client_id)
        changed = tx.clients.enable(client_id)
        audit(tx.audit, "client.enabled", at=now, outcome="ok" if changed else "ignored", client_id=client_id)
    return changed
