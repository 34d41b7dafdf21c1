"""Grants (token families), authorization codes, refresh tokens and access-token revocations.

Codes and refresh tokens are stored by keyed hash only. Consumption marks a row used instead of deleting it, so a
second presentation is recognised as *reuse* (RFC 9700 §4.5, §4.14) and can revoke the whole family.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import BindParameter, Connection, bindparam, delete, func, insert, or_, select, text, update

from deputy.oauth.models import AuthorizationCode, Grant, RefreshToken
from deputy.storage.sql._rows import insert_ignore, join_scopes, split_scopes
from deputy.storage.sql.schema import authorization_codes, grants, refresh_tokens, revoked_access_tokens

__all__ = ["SqlCodes", "SqlGrants", "SqlRefreshTokens", "SqlRevocations"]


# Hot statements are built once (see clients.py).
_GRANT_LOAD = select(grants).where(grants.c.grant_id == bindparam("grant_id"))
_HASHES: BindParameter[list[str]] = bindparam("hashes", expanding=True)
_RT_LOAD = select(refresh_tokens).where(refresh_tokens.c.token_hash.in_(_HASHES))
_RT_ROTATE = (
    update(refresh_tokens)
    .where(
        refresh_tokens.c.token_hash.in_(_HASHES),
        refresh_tokens.c.rotated_at.is_(None),
        refresh_tokens.c.expires_at > bindparam("now"),
    )
    .values(rotated_at=bindparam("now"))
    .returning(*refresh_tokens.c)
)
# Plain SQL text: an ``Insert`` re-derives its VALUES and cache key on every execution (see audit.py).
_RT_INSERT = text(
    "INSERT INTO refresh_tokens (token_hash, grant_id, client_id, scopes, created_at, expires_at) "
    "VALUES (:token_hash, :grant_id, :client_id, :scopes, :created_at, :expires_at)"
)
_CODE_CONSUME = (
    update(authorization_codes)
    .where(
        authorization_codes.c.code_hash.in_(_HASHES),
        authorization_codes.c.used_at.is_(None),
        authorization_codes.c.expires_at > bindparam("now"),
    )
    .values(used_at=bindparam("now"))
    .returning(*authorization_codes.c)
)


def _to_grant(row: Any) -> Grant:
    return Grant(
        row.grant_id, row.user_id, row.client_id, split_scopes(row.scopes), row.resource, row.created_at, row.revoked_at
    )


class SqlGrants:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def create(self, grant: Grant) -> None:
        self._c.execute(
            insert(grants).values(
                grant_id=grant.grant_id,
                user_id=grant.user_id,
                client_id=grant.client_id,
                scopes=join_scopes(grant.scopes),
                resource=grant.resource,
                created_at=grant.created_at,
            )
        )

    def load(self, grant_id: str) -> Grant | None:
        row = self._c.execute(_GRANT_LOAD, {"grant_id": grant_id}).first()
        return _to_grant(row) if row else None

    def revoke(self, grant_id: str, *, now: int, reason: str) -> bool:
        """Revoke the family and every refresh token in it; access tokens are refused via ``revoked_since``."""
        result = self._c.execute(
            update(grants)
            .where(grants.c.grant_id == grant_id, grants.c.revoked_at.is_(None))
            .values(revoked_at=now, revoked_reason=reason)
        )
        self._c.execute(
            update(refresh_tokens)
            .where(refresh_tokens.c.grant_id == grant_id, refresh_tokens.c.rotated_at.is_(None))
            .values(rotated_at=now)
        )
        return result.rowcount == 1

    def revoke_for(self, user_id: str, client_id: str, *, now: int, reason: str) -> list[str]:
        """Revoke every live grant of this (user, client); returns their ids."""
        ids = [
            r.grant_id
            for r in self._c.execute(
                select(grants.c.grant_id).where(
                    grants.c.user_id == user_id, grants.c.client_id == client_id, grants.c.revoked_at.is_(None)
                )
            )
        ]
        for grant_id in ids:
            self.revoke(grant_id, now=now, reason=reason)
        return ids

    def revoke_client(self, client_id: str, *, now: int, reason: str) -> list[str]:
        """Revoke every live grant of this client, whoever the user; returns their ids."""
        ids = [
            r.grant_id
            for r in self._c.execute(
                select(grants.c.grant_id).where(grants.c.client_id == client_id, grants.c.revoked_at.is_(None))
            )
        ]
        for grant_id in ids:
            self.revoke(grant_id, now=now, reason=reason)
        return ids

    def last_issued(self, *, user_id: str | None = None, client_id: str | None = None) -> dict[str, int]:
        """client_id -> when it was last given something (a grant, or a refresh token at a code redemption or a
        rotation), for one user or one client. The only trace of use Deputy keeps: MCP calls write nothing."""
        where = [grants.c.user_id == user_id] if user_id is not None else []
        where += [grants.c.client_id == client_id] if client_id is not None else []
        created = select(grants.c.client_id, func.max(grants.c.created_at).label("at")).where(*where)
        refreshed = (
            select(grants.c.client_id, func.max(refresh_tokens.c.created_at).label("at"))
            .select_from(grants.join(refresh_tokens, refresh_tokens.c.grant_id == grants.c.grant_id))
            .where(*where)
        )
        out: dict[str, int] = {}
        for stmt in (created, refreshed):
            for row in self._c.execute(stmt.group_by(grants.c.client_id)):
                if row.at is not None:
                    out[row.client_id] = max(out.get(row.client_id, 0), int(row.at))
        return out

    def revoked_since(self, since: int) -> list[tuple[str, int]]:
        """(grant_id, revoked_at) revoked at or after ``since``: what a resource server polls."""
        rows = self._c.execute(select(grants.c.grant_id, grants.c.revoked_at).where(grants.c.revoked_at >= since))
        return [(r.grant_id, r.revoked_at) for r in rows]


def _to_code(row: Any) -> AuthorizationCode:
    return AuthorizationCode(
        code_hash=row.code_hash,
        grant_id=row.grant_id,
        client_id=row.client_id,
        redirect_uri=row.redirect_uri,
        code_challenge=row.code_challenge,
        resource=row.resource,
        scopes=split_scopes(row.scopes),
        user_id=row.user_id,
        expires_at=row.expires_at,
        used_at=row.used_at,
    )


class SqlCodes:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def save(self, code: AuthorizationCode) -> None:
        self._c.execute(
            insert(authorization_codes).values(
                code_hash=code.code_hash,
                grant_id=code.grant_id,
                client_id=code.client_id,
                redirect_uri=code.redirect_uri,
                code_challenge=code.code_challenge,
                resource=code.resource,
                scopes=join_scopes(code.scopes),
                user_id=code.user_id,
                expires_at=code.expires_at,
            )
        )

    def consume(self, code_hashes: Sequence[str], *, now: int) -> AuthorizationCode | None:
        """Mark the code used if it is unused and unexpired; exactly one concurrent caller gets it."""
        row = self._c.execute(_CODE_CONSUME, {"hashes": list(code_hashes), "now": now}).first()
        return _to_code(row) if row else None

    def load(self, code_hashes: Sequence[str]) -> AuthorizationCode | None:
        """Any code with this hash, used or not: to tell reuse from garbage."""
        row = self._c.execute(
            select(authorization_codes).where(authorization_codes.c.code_hash.in_(list(code_hashes)))
        ).first()
        return _to_code(row) if row else None

    def purge_expired(self, before: int) -> int:
        return int(
            self._c.execute(delete(authorization_codes).where(authorization_codes.c.expires_at <= before)).rowcount
        )


def _to_refresh(row: Any) -> RefreshToken:
    return RefreshToken(
        row.token_hash,
        row.grant_id,
        row.client_id,
        split_scopes(row.scopes),
        row.created_at,
        row.expires_at,
        row.rotated_at,
    )


class SqlRefreshTokens:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def save(self, token: RefreshToken) -> None:
        self._c.execute(
            _RT_INSERT,
            {
                "token_hash": token.token_hash,
                "grant_id": token.grant_id,
                "client_id": token.client_id,
                "scopes": join_scopes(token.scopes),
                "created_at": token.created_at,
                "expires_at": token.expires_at,
            },
        )

    def rotate(self, token_hashes: Sequence[str], *, now: int) -> RefreshToken | None:
        """Retire the token if it is live; exactly one concurrent caller gets it back."""
        row = self._c.execute(_RT_ROTATE, {"hashes": list(token_hashes), "now": now}).first()
        return _to_refresh(row) if row else None

    def load(self, token_hashes: Sequence[str]) -> RefreshToken | None:
        row = self._c.execute(_RT_LOAD, {"hashes": list(token_hashes)}).first()
        return _to_refresh(row) if row else None

    def purge_expired(self, before: int) -> int:
        stmt = delete(refresh_tokens).where(
            or_(refresh_tokens.c.expires_at <= before, refresh_tokens.c.rotated_at <= before - 30 * 86400)
        )
        return int(self._c.execute(stmt).rowcount)


class SqlRevocations:
    """Individually revoked access tokens (by ``jti``), kept until they would have expired anyway."""

    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def revoke(self, jti: str, grant_id: str, *, now: int, expires_at: int) -> None:
        values = {"jti": jti, "grant_id": grant_id, "revoked_at": now, "expires_at": expires_at}
        insert_ignore(self._c, revoked_access_tokens, values, ("jti",))

    def is_revoked(self, jti: str) -> bool:
        row = self._c.execute(select(revoked_access_tokens.c.jti).where(revoked_access_tokens.c.jti == jti)).first()
        return row is not None

    def revoked_since(self, since: int) -> list[tuple[str, int]]:
        rows = self._c.execute(
            select(revoked_access_tokens.c.jti, revoked_access_tokens.c.expires_at).where(
                revoked_access_tokens.c.revoked_at >= since
            )
        )
        return [(r.jti, r.expires_at) for r in rows]

    def purge_expired(self, now: int) -> int:
        stmt = delete(revoked_access_tokens).where(revoked_access_tokens.c.expires_at <= now)
        return int(self._c.execute(stmt).rowcount)
