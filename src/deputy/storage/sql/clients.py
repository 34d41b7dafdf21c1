"""Client registrations: dynamic (RFC 7591, expiring when unused) and static (from the configuration)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, and_, bindparam, case, delete, func, insert, or_, select, update

from deputy.oauth.models import Client, ClientKind
from deputy.storage.sql._rows import dump_list, insert_ignore, join_scopes, load_list, split_scopes, upsert
from deputy.storage.sql.schema import clients

__all__ = ["SqlClients"]


def _to_client(row: Any) -> Client:
    return Client(
        client_id=row.client_id,
        client_name=row.client_name,
        redirect_uris=load_list(row.redirect_uris),
        token_endpoint_auth_method=row.token_endpoint_auth_method,
        kind=ClientKind(row.kind),
        created_at=row.created_at,
        secret_hash=row.secret_hash,
        grant_types=load_list(row.grant_types),
        scope=split_scopes(row.scope) if row.scope is not None else None,
        application_type=row.application_type,
        client_uri=row.client_uri,
        last_used_at=row.last_used_at,
        expires_at=row.expires_at,
        disabled_at=row.disabled_at,
    )


def _values(client: Client) -> dict[str, Any]:
    return {
        "client_id": client.client_id,
        "client_name": client.client_name,
        "redirect_uris": dump_list(client.redirect_uris),
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "secret_hash": client.secret_hash,
        "grant_types": dump_list(client.grant_types),
        "scope": join_scopes(client.scope) if client.scope is not None else None,
        "application_type": client.application_type,
        "client_uri": client.client_uri,
        "kind": client.kind.value,
        "created_at": client.created_at,
        "last_used_at": client.last_used_at,
        "expires_at": client.expires_at,
        "disabled_at": client.disabled_at,
    }


# Hot statements are built once: constructing a statement costs more than executing it on SQLite.
_LOAD = select(clients).where(
    clients.c.client_id == bindparam("client_id"),
    clients.c.disabled_at.is_(None),
    or_(clients.c.expires_at.is_(None), clients.c.expires_at > bindparam("now")),
)
_MARK_USED = (
    update(clients)
    .where(
        clients.c.client_id == bindparam("cid"),
        or_(clients.c.last_used_at.is_(None), clients.c.last_used_at < bindparam("stale_before")),
    )
    .values(
        last_used_at=bindparam("now"),
        expires_at=case(
            (clients.c.kind == ClientKind.DYNAMIC.value, bindparam("keep_until")), else_=clients.c.expires_at
        ),
    )
)


class SqlClients:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def save(self, client: Client, *, registered_from: str | None = None) -> None:
        self._c.execute(insert(clients).values(**_values(client), registered_from=registered_from))

    def upsert_static(self, client: Client) -> None:
        """Pre-registered clients are re-written from the configuration at every start, atomically so that several
        instances starting together do not collide; an operator's ``disabled_at`` survives the restart."""
        values = _values(client)
        keep = ("client_id", "created_at", "last_used_at", "disabled_at")
        upsert(self._c, clients, values, ("client_id",), {k: v for k, v in values.items() if k not in keep})

    def load(self, client_id: str, *, now: int) -> Client | None:
        """An active client: not disabled, not an expired unused registration."""
        row = self._c.execute(_LOAD, {"client_id": client_id, "now": now}).first()
        return _to_client(row) if row else None

    def count_registered_since(self, registered_from: str, since: int) -> int:
        return int(
            self._c.execute(
                select(func.count())
                .select_from(clients)
                .where(clients.c.registered_from == registered_from, clients.c.created_at >= since)
            ).scalar_one()
        )

    def mark_used(self, client_id: str, now: int, *, keep_for: int) -> None:
        """Record use; a dynamic registration's expiry moves out with it. At most one write per hour."""
        self._c.execute(
            _MARK_USED, {"cid": client_id, "stale_before": now - 3600, "now": now, "keep_until": now + keep_for}
        )

    def disable(self, client_id: str, now: int) -> bool:
        result = self._c.execute(
            update(clients)
            .where(clients.c.client_id == client_id, clients.c.disabled_at.is_(None))
            .values(disabled_at=now)
        )
        return result.rowcount == 1

    def purge_expired(self, now: int) -> int:
        result = self._c.execute(
            delete(clients).where(and_(clients.c.expires_at.is_not(None), clients.c.expires_at <= now))
        )
        return int(result.rowcount)

    def list_all(self) -> list[Client]:
        return [_to_client(r) for r in self._c.execute(select(clients).order_by(clients.c.created_at))]

    def load_record(self, client_id: str) -> Client | None:
        """The row whatever its state (disabled, lapsed): for operators and for the user's list of applications."""
        row = self._c.execute(select(clients).where(clients.c.client_id == client_id)).first()
        return _to_client(row) if row else None

    def is_disabled(self, client_id: str) -> bool:
        row = self._c.execute(
            select(clients.c.client_id).where(clients.c.client_id == client_id, clients.c.disabled_at.is_not(None))
        ).first()
        return row is not None

    def disable_document(self, client_id: str, now: int) -> bool:
        """A client metadata document is not a registration, so disabling one stores a row that records only the
        refusal; it is never loaded as a client (``deputy.service.authorization`` resolves documents by URL)."""
        values = {
            **_values(Client(client_id, client_id, (), "none", ClientKind.DOCUMENT, now, grant_types=())),
            "disabled_at": None,
        }
        insert_ignore(self._c, clients, values, ("client_id",))
        return self.disable(client_id, now)

    def enable(self, client_id: str) -> bool:
        """Lift an operator's refusal; a document's refusal row goes away entirely."""
        if self._c.execute(
            delete(clients).where(clients.c.client_id == client_id, clients.c.kind == ClientKind.DOCUMENT.value)
        ).rowcount:
            return True
        result = self._c.execute(
            update(clients)
            .where(clients.c.client_id == client_id, clients.c.disabled_at.is_not(None))
            .values(disabled_at=None)
        )
        return result.rowcount == 1
