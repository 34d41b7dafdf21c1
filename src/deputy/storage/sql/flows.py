"""Browser authorization transactions and their one-shot transitions.

Each transition is one guarded ``UPDATE … RETURNING``: the guard is the precondition (status, unexpired, the
presented secret's hash), so of N concurrent attempts exactly one gets a row back (invariant 3).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from deputy.oauth.models import Flow, FlowStatus
from deputy.storage.sql._rows import join_scopes, split_scopes
from deputy.storage.sql.schema import flows

__all__ = ["ConsumedState", "SqlFlows"]

_RETURNING = (
    flows.c.flow_id,
    flows.c.client_id,
    flows.c.redirect_uri,
    flows.c.scopes,
    flows.c.code_challenge,
    flows.c.resource,
    flows.c.state,
    flows.c.status,
    flows.c.created_at,
    flows.c.expires_at,
    flows.c.csrf_hash,
    flows.c.session_user_id,
    flows.c.decided_at,
)


@dataclass(frozen=True)
class ConsumedState:
    """What the callback gets when it consumes the upstream state: the flow and its browser binding."""

    flow: Flow
    binding_hash: str
    upstream_verifier: bytes | None


def _to_flow(row: Any) -> Flow:
    return Flow(
        flow_id=row.flow_id,
        client_id=row.client_id,
        redirect_uri=row.redirect_uri,
        scopes=split_scopes(row.scopes),
        code_challenge=row.code_challenge,
        resource=row.resource,
        state=row.state,
        status=FlowStatus(row.status),
        created_at=row.created_at,
        expires_at=row.expires_at,
        csrf_hash=row.csrf_hash,
        session_user_id=row.session_user_id,
        decided_at=row.decided_at,
    )


class SqlFlows:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def create(self, flow: Flow) -> None:
        self._c.execute(
            insert(flows).values(
                flow_id=flow.flow_id,
                client_id=flow.client_id,
                redirect_uri=flow.redirect_uri,
                scopes=join_scopes(flow.scopes),
                code_challenge=flow.code_challenge,
                resource=flow.resource,
                state=flow.state,
                status=flow.status.value,
                created_at=flow.created_at,
                expires_at=flow.expires_at,
                csrf_hash=flow.csrf_hash,
                session_user_id=flow.session_user_id,
            )
        )

    def load(self, flow_id: str) -> Flow | None:
        row = self._c.execute(select(*_RETURNING).where(flows.c.flow_id == flow_id)).first()
        return _to_flow(row) if row else None

    def approve(
        self,
        flow_id: str,
        csrf_hashes: Sequence[str],
        *,
        now: int,
        upstream_state_hash: str,
        binding_hash: str,
        upstream_verifier: bytes | None,
    ) -> Flow | None:
        """PENDING → APPROVED, consuming the CSRF token; the upstream state exists only from here on."""
        row = self._c.execute(
            update(flows)
            .where(*self._pending(flow_id, csrf_hashes, now))
            .values(
                status=FlowStatus.APPROVED.value,
                decided_at=now,
                csrf_hash="",
                upstream_state_hash=upstream_state_hash,
                binding_hash=binding_hash,
                upstream_verifier=upstream_verifier,
            )
            .returning(*_RETURNING)
        ).first()
        return _to_flow(row) if row else None

    def deny(self, flow_id: str, csrf_hashes: Sequence[str], *, now: int) -> Flow | None:
        """PENDING → DENIED, consuming the CSRF token."""
        row = self._c.execute(
            update(flows)
            .where(*self._pending(flow_id, csrf_hashes, now))
            .values(status=FlowStatus.DENIED.value, decided_at=now, csrf_hash="")
            .returning(*_RETURNING)
        ).first()
        return _to_flow(row) if row else None

    @staticmethod
    def _pending(flow_id: str, csrf_hashes: Sequence[str], now: int) -> tuple[Any, ...]:
        return (
            flows.c.flow_id == flow_id,
            flows.c.status == FlowStatus.PENDING.value,
            flows.c.expires_at > now,
            flows.c.csrf_hash.in_(list(csrf_hashes)),
        )

    def consume_upstream_state(self, state_hashes: Sequence[str], *, now: int) -> ConsumedState | None:
        """APPROVED → CALLBACK for the flow owning this upstream ``state``; one-shot and unexpired."""
        row = self._c.execute(
            update(flows)
            .where(
                flows.c.upstream_state_hash.in_(list(state_hashes)),
                flows.c.status == FlowStatus.APPROVED.value,
                flows.c.expires_at > now,
            )
            .values(status=FlowStatus.CALLBACK.value)
            .returning(*_RETURNING, flows.c.binding_hash, flows.c.upstream_verifier)
        ).first()
        if row is None:
            return None
        return ConsumedState(_to_flow(row), row.binding_hash or "", row.upstream_verifier)

    def describe_state(self, state_hashes: Sequence[str]) -> FlowStatus | None:
        """For the error page only: what became of a state that could not be consumed (replayed? expired?)."""
        row = self._c.execute(select(flows.c.status).where(flows.c.upstream_state_hash.in_(list(state_hashes)))).first()
        return FlowStatus(row.status) if row else None

    def finish(self, flow_id: str, status: FlowStatus) -> None:
        """CALLBACK → COMPLETED or FAILED; the verifier is wiped either way."""
        self._c.execute(
            update(flows)
            .where(flows.c.flow_id == flow_id, flows.c.status == FlowStatus.CALLBACK.value)
            .values(status=status.value, upstream_verifier=None)
        )

    def mark_remembered(self, flow_id: str, now: int) -> None:
        """The flow was approved from a remembered consent, without the page: its callback must prove the same user."""
        self._c.execute(update(flows).where(flows.c.flow_id == flow_id).values(remembered_at=now))

    def remembered_at(self, flow_id: str) -> int | None:
        row = self._c.execute(select(flows.c.remembered_at).where(flows.c.flow_id == flow_id)).first()
        return int(row.remembered_at) if row and row.remembered_at is not None else None

    def purge_expired(self, now: int) -> int:
        return int(self._c.execute(delete(flows).where(flows.c.expires_at <= now)).rowcount)
