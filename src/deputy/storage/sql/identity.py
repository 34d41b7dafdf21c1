"""Users (as the upstream identifies them), Deputy browser sessions, and per-(user, client) consents."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from deputy.oauth.models import Consent, User
from deputy.storage.sql._rows import join_scopes, split_scopes, upsert
from deputy.storage.sql.schema import browser_sessions, consents, users

__all__ = ["ConsentEntry", "ConsentKey", "SqlConsents", "SqlSessions", "SqlUsers"]


class SqlUsers:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def upsert_by_subject(self, upstream_subject: str, display_name: str, *, now: int) -> User:
        """The user with this upstream subject, created on first login; the display name follows the upstream.

        One ``INSERT … ON CONFLICT`` so that two first sign-ins of the same person racing each other agree on one id.
        """
        values = {
            "user_id": "usr_" + secrets.token_hex(12), "upstream_subject": upstream_subject,
            "display_name": display_name, "created_at": now, "last_login_at": now,
        }  # fmt: skip
        upsert(self._c, users, values, ("upstream_subject",), {"display_name": display_name, "last_login_at": now})
        row = self._c.execute(select(users).where(users.c.upstream_subject == upstream_subject)).one()
        return User(row.user_id, upstream_subject, row.display_name, row.created_at)

    def load(self, user_id: str) -> User | None:
        row = self._c.execute(select(users).where(users.c.user_id == user_id)).first()
        return User(row.user_id, row.upstream_subject, row.display_name, row.created_at) if row else None

    def load_by_subject(self, upstream_subject: str) -> User | None:
        row = self._c.execute(select(users).where(users.c.upstream_subject == upstream_subject)).first()
        return User(row.user_id, row.upstream_subject, row.display_name, row.created_at) if row else None


class SqlSessions:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def create(self, session_hash: str, user_id: str, *, now: int, expires_at: int) -> None:
        self._c.execute(
            insert(browser_sessions).values(
                session_hash=session_hash, user_id=user_id, created_at=now, expires_at=expires_at
            )
        )

    def load_user_id(self, session_hashes: Sequence[str], *, now: int) -> str | None:
        row = self._c.execute(
            select(browser_sessions.c.user_id).where(
                browser_sessions.c.session_hash.in_(list(session_hashes)), browser_sessions.c.expires_at > now
            )
        ).first()
        return str(row.user_id) if row else None

    def delete(self, session_hashes: Sequence[str]) -> None:
        self._c.execute(delete(browser_sessions).where(browser_sessions.c.session_hash.in_(list(session_hashes))))

    def purge_expired(self, now: int) -> int:
        return int(self._c.execute(delete(browser_sessions).where(browser_sessions.c.expires_at <= now)).rowcount)


@dataclass(frozen=True)
class ConsentKey:
    """The exact tuple a consent covers: another redirect URI or another set of scopes is another consent."""

    user_id: str
    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]


@dataclass(frozen=True)
class ConsentEntry:
    """A consent with how long it may stand in for the consent page (``None``: it may not)."""

    consent: Consent
    remember_until: int | None


def _to_consent(row: Any) -> Consent:
    return Consent(
        user_id=row.user_id,
        client_id=row.client_id,
        redirect_uri=row.redirect_uri,
        scopes=split_scopes(row.scopes),
        approved_at=row.approved_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
        reauth_required_at=row.reauth_required_at,
    )


class SqlConsents:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def record(self, consent: Consent) -> None:
        """Insert or refresh the approval for this exact tuple (a re-approval clears an earlier revocation)."""
        values = {
            "user_id": consent.user_id,
            "client_id": consent.client_id,
            "redirect_uri": consent.redirect_uri,
            "scopes": join_scopes(consent.scopes),
            "approved_at": consent.approved_at,
        }
        upsert(
            self._c,
            consents,
            values,
            ("user_id", "client_id", "redirect_uri", "scopes"),
            {"approved_at": consent.approved_at, "revoked_at": None},
        )
        # The upstream credential is per user, so a fresh authorization through any client restores every one.
        self._c.execute(
            update(consents)
            .where(consents.c.user_id == consent.user_id, consents.c.reauth_required_at.is_not(None))
            .values(reauth_required_at=None)
        )

    def mark_reauth_required(self, user_id: str, *, now: int) -> int:
        """The upstream refused this user's refresh token (revoked there): every live consent needs a new
        authorization before tools can act for the user again."""
        result = self._c.execute(
            update(consents)
            .where(
                consents.c.user_id == user_id,
                consents.c.revoked_at.is_(None),
                consents.c.reauth_required_at.is_(None),
            )
            .values(reauth_required_at=now)
        )
        return int(result.rowcount)

    def list_for_user(self, user_id: str) -> list[Consent]:
        rows = self._c.execute(select(consents).where(consents.c.user_id == user_id).order_by(consents.c.approved_at))
        return [_to_consent(r) for r in rows]

    def revoke(self, user_id: str, client_id: str, *, now: int) -> int:
        result = self._c.execute(
            update(consents)
            .where(consents.c.user_id == user_id, consents.c.client_id == client_id, consents.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        return int(result.rowcount)

    def list_entries(self, user_id: str) -> list[ConsentEntry]:
        """Every consent of the user, revoked ones included, oldest first."""
        rows = self._c.execute(select(consents).where(consents.c.user_id == user_id).order_by(consents.c.approved_at))
        return [ConsentEntry(_to_consent(r), r.remember_until) for r in rows]

    def load_remember_until(self, key: ConsentKey, *, now: int) -> int | None:
        """Until when this exact consent stands in for the page: only if remembered, unexpired, unrevoked and not
        waiting for a re-authorization."""
        row = self._c.execute(
            select(consents.c.remember_until).where(
                *_matches(key),
                consents.c.revoked_at.is_(None),
                consents.c.reauth_required_at.is_(None),
                consents.c.remember_until > now,
            )
        ).first()
        return int(row.remember_until) if row else None

    def remember(self, key: ConsentKey, *, until: int | None) -> None:
        """Set (or, with ``None``, clear) how long the consent may stand in for the page."""
        self._c.execute(update(consents).where(*_matches(key)).values(remember_until=until))

    def mark_used(self, key: ConsentKey, *, now: int) -> None:
        self._c.execute(update(consents).where(*_matches(key)).values(last_used_at=now))

    def forget_client(self, client_id: str) -> int:
        """No consent for this client stands in for the page any more (the client was disabled)."""
        result = self._c.execute(
            update(consents)
            .where(consents.c.client_id == client_id, consents.c.remember_until.is_not(None))
            .values(remember_until=None)
        )
        return int(result.rowcount)

    def count_live_for_client(self, client_id: str) -> int:
        """Unrevoked consents for the client, across users."""
        return int(
            self._c.execute(
                select(func.count())
                .select_from(consents)
                .where(consents.c.client_id == client_id, consents.c.revoked_at.is_(None))
            ).scalar_one()
        )


def _matches(key: ConsentKey) -> tuple[Any, ...]:
    return (
        consents.c.user_id == key.user_id,
        consents.c.client_id == key.client_id,
        consents.c.redirect_uri == key.redirect_uri,
        consents.c.scopes == join_scopes(key.scopes),
    )
