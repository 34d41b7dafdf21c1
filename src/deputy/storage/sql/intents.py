"""Intent drafts and their one-shot transitions (the state machine is drawn in ``deputy.intents.models``).

Deciding and committing are each one guarded ``UPDATE … RETURNING``: the guard is the precondition (status, owner,
unexpired, the presented CSRF hash or the exact intent hash and grant), so of N concurrent attempts exactly one
gets a row back (invariant 3), on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from deputy.intents.models import Draft, DraftStatus
from deputy.storage.sql.schema import intent_drafts

__all__ = ["SqlIntentDrafts"]

_t = intent_drafts
_COLUMNS = (
    _t.c.draft_id,
    _t.c.tool,
    _t.c.arguments,
    _t.c.intent_hash,
    _t.c.user_id,
    _t.c.client_id,
    _t.c.grant_id,
    _t.c.method,
    _t.c.target,
    _t.c.status,
    _t.c.created_at,
    _t.c.expires_at,
    _t.c.decided_at,
    _t.c.digest,
    _t.c.committed_at,
)


def _to_draft(row: Any) -> Draft:
    return Draft(
        draft_id=row.draft_id,
        tool=row.tool,
        arguments=row.arguments,
        intent_hash=row.intent_hash,
        user_id=row.user_id,
        client_id=row.client_id,
        grant_id=row.grant_id,
        method=row.method,
        target=row.target,
        status=DraftStatus(row.status),
        created_at=row.created_at,
        expires_at=row.expires_at,
        decided_at=row.decided_at,
        digest=row.digest,
        committed_at=row.committed_at,
    )


class SqlIntentDrafts:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def create(self, draft: Draft) -> None:
        self._c.execute(
            insert(_t).values(
                draft_id=draft.draft_id,
                tool=draft.tool,
                arguments=draft.arguments,
                intent_hash=draft.intent_hash,
                user_id=draft.user_id,
                client_id=draft.client_id,
                grant_id=draft.grant_id,
                method=draft.method,
                target=draft.target,
                status=draft.status.value,
                created_at=draft.created_at,
                expires_at=draft.expires_at,
                csrf_hash="",
            )
        )

    def load(self, draft_id: str) -> Draft | None:
        row = self._c.execute(select(*_COLUMNS).where(_t.c.draft_id == draft_id)).first()
        return _to_draft(row) if row else None

    def count_pending(self, grant_id: str, *, now: int) -> int:
        """Undecided, unexpired drafts of one grant: a client may not pile up confirmation requests."""
        query = select(func.count()).where(
            _t.c.grant_id == grant_id, _t.c.status == DraftStatus.PENDING.value, _t.c.expires_at > now
        )
        return int(self._c.execute(query).scalar_one())

    def set_csrf(self, draft_id: str, user_id: str, csrf_hash: str, *, now: int) -> bool:
        """Bind the page's CSRF token to a pending draft of this user (each page view replaces the last)."""
        result = self._c.execute(update(_t).where(*self._undecided(draft_id, user_id, now)).values(csrf_hash=csrf_hash))
        return bool(result.rowcount)

    def decide(
        self,
        draft_id: str,
        user_id: str,
        csrf_hashes: Sequence[str],
        *,
        now: int,
        status: DraftStatus,
        digest: str | None,
    ) -> Draft | None:
        """PENDING → CONFIRMED (with the signed digest) or REJECTED, consuming the CSRF token."""
        row = self._c.execute(
            update(_t)
            .where(*self._undecided(draft_id, user_id, now), _t.c.csrf_hash.in_([h for h in csrf_hashes if h]))
            .values(status=status.value, decided_at=now, digest=digest, csrf_hash="")
            .returning(*_COLUMNS)
        ).first()
        return _to_draft(row) if row else None

    def commit(self, draft_id: str, *, user_id: str, grant_id: str, intent_hash: str, now: int) -> Draft | None:
        """CONFIRMED → COMMITTED, once: the caller checked the digest; this is the atomic spend."""
        row = self._c.execute(
            update(_t)
            .where(
                _t.c.draft_id == draft_id,
                _t.c.status == DraftStatus.CONFIRMED.value,
                _t.c.user_id == user_id,
                _t.c.grant_id == grant_id,
                _t.c.intent_hash == intent_hash,
            )
            .values(status=DraftStatus.COMMITTED.value, committed_at=now)
            .returning(*_COLUMNS)
        ).first()
        return _to_draft(row) if row else None

    def purge_expired(self, before: int) -> int:
        """Drop drafts that expired before ``before`` (kept a while after expiry so the page can say so)."""
        return int(self._c.execute(delete(_t).where(_t.c.expires_at <= before)).rowcount)

    @staticmethod
    def _undecided(draft_id: str, user_id: str, now: int) -> tuple[Any, ...]:
        return (
            _t.c.draft_id == draft_id,
            _t.c.user_id == user_id,
            _t.c.status == DraftStatus.PENDING.value,
            _t.c.expires_at > now,
        )
