"""All mutable state of the fake provider: sessions, consent, codes, tokens and the CRM records.

One lock guards the authorization state so that check-and-consume steps (redeeming a code, rotating a refresh
token) are atomic even when the app is served from several threads. Tests reach this object through
``app.state.acme_store`` to simulate things a real provider does on its own: tokens expiring and users
revoking an application.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import replace

from deputy.clock import Clock

from .grants import (
    AccessToken,
    AuthorizationCode,
    GrantError,
    RefreshToken,
    ScopeEscalationError,
    Session,
    TokenPair,
)
from .records import RecordStore

CODE_TTL = 60
SESSION_TTL = 24 * 3600


def new_secret(prefix: str) -> str:
    return f"{prefix}{secrets.token_urlsafe(32)}"


class AcmeStore:
    """Thread-safe ledger of everything Acme has granted."""

    def __init__(self, clock: Clock, access_token_ttl: int) -> None:
        self.clock = clock
        self.records = RecordStore(clock)
        self._access_token_ttl = access_token_ttl
        self._lock = threading.Lock()
        self._sessions: dict[str, Session] = {}
        self._consents: dict[tuple[str, str], frozenset[str]] = {}
        self._devices: dict[str, set[tuple[str, str]]] = {}
        self._codes: dict[str, AuthorizationCode] = {}
        self._used_codes: dict[str, AuthorizationCode] = {}
        self._access: dict[str, AccessToken] = {}
        self._refresh: dict[str, RefreshToken] = {}

    # --- browser sessions -------------------------------------------------------------------------------------

    def create_session(self, user_id: str) -> Session:
        session = Session(new_secret("acme_s_"), user_id, secrets.token_urlsafe(32), self.clock.now() + SESSION_TTL)
        with self._lock:
            self._sessions[session.session_id] = session
        return session

    def session(self, session_id: str | None) -> Session | None:
        if not session_id:
            return None
        with self._lock:
            session = self._sessions.get(session_id)
        return session if session is not None and session.expires_at > self.clock.now() else None

    def delete_session(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(session_id, None)

    # --- consent ----------------------------------------------------------------------------------------------

    def has_consent(self, user_id: str, client_id: str, scopes: frozenset[str]) -> bool:
        with self._lock:
            return scopes <= self._consents.get((user_id, client_id), frozenset())

    def record_consent(self, user_id: str, client_id: str, scopes: frozenset[str]) -> None:
        with self._lock:
            key = (user_id, client_id)
            self._consents[key] = self._consents.get(key, frozenset()) | scopes

    def remember_device(self, device_id: str | None, user_id: str, client_id: str) -> str:
        """Note on the consent cookie's server side that this browser approved ``client_id`` for this user."""
        with self._lock:
            if device_id is None or device_id not in self._devices:
                device_id = new_secret("acme_d_")
                self._devices[device_id] = set()
            self._devices[device_id].add((user_id, client_id))
        return device_id

    def device_remembers(self, device_id: str | None, user_id: str, client_id: str) -> bool:
        if not device_id:
            return False
        with self._lock:
            return (user_id, client_id) in self._devices.get(device_id, set())

    # --- authorization codes ----------------------------------------------------------------------------------

    def issue_code(
        self, client_id: str, redirect_uri: str, scopes: frozenset[str], user_id: str, code_challenge: str | None
    ) -> AuthorizationCode:
        code = AuthorizationCode(
            code=new_secret("acme_ac_"),
            client_id=client_id,
            redirect_uri=redirect_uri,
            scopes=scopes,
            user_id=user_id,
            code_challenge=code_challenge,
            expires_at=self.clock.now() + CODE_TTL,
            grant_id=secrets.token_hex(16),
        )
        with self._lock:
            self._codes = {key: live for key, live in self._codes.items() if live.expires_at > self.clock.now()}
            self._codes[code.code] = code
        return code

    def redeem_code(self, code: str) -> AuthorizationCode:
        """Consume a code exactly once; a replay revokes what the first redemption issued (RFC 6749 §4.1.2)."""
        now = self.clock.now()
        with self._lock:
            self._used_codes = {key: used for key, used in self._used_codes.items() if used.expires_at > now}
            if code in self._used_codes:
                self._revoke_grant_locked(self._used_codes[code].grant_id)
                raise GrantError("authorization code has already been used")
            grant = self._codes.pop(code, None)
            if grant is None:
                raise GrantError("unknown authorization code")
            self._used_codes[code] = grant
        if grant.expires_at <= now:
            raise GrantError("authorization code has expired")
        return grant

    # --- tokens -----------------------------------------------------------------------------------------------

    def issue_tokens(self, client_id: str, user_id: str, scopes: frozenset[str], grant_id: str) -> TokenPair:
        refresh = RefreshToken(new_secret("acme_rt_"), client_id, user_id, scopes, grant_id)
        access = self._new_access(refresh)
        with self._lock:
            self._access[access.token] = access
            self._refresh[refresh.token] = refresh
        return TokenPair(access, refresh)

    def refresh(self, token: str, client_id: str, scopes: frozenset[str] | None, rotate: bool) -> TokenPair:
        """Trade a refresh token for new tokens; replaying a rotated token revokes the whole grant."""
        with self._lock:
            current = self._refresh.get(token)
            if current is None or current.client_id != client_id:
                raise GrantError("unknown or revoked refresh token")
            if current.rotated:
                self._revoke_grant_locked(current.grant_id)
                raise GrantError("refresh token has already been used")
            if scopes is not None and not scopes <= current.scopes:
                raise ScopeEscalationError("requested scope exceeds the original grant")
            successor = current
            if rotate:
                self._refresh[token] = replace(current, rotated=True)
                successor = replace(current, token=new_secret("acme_rt_"))
                self._refresh[successor.token] = successor
            access = self._new_access(replace(successor, scopes=scopes or current.scopes))
            self._access[access.token] = access
        return TokenPair(access, successor)

    def access_token(self, token: str) -> AccessToken | None:
        """The live access token, or None when it is unknown, revoked or expired."""
        with self._lock:
            access = self._access.get(token)
        return access if access is not None and access.expires_at > self.clock.now() else None

    def revoke_token(self, token: str, client_id: str) -> None:
        """RFC 7009: revoking a refresh token also ends the access tokens of its grant."""
        with self._lock:
            access = self._access.get(token)
            if access is not None and access.client_id == client_id:
                del self._access[token]
            refresh = self._refresh.get(token)
            if refresh is not None and refresh.client_id == client_id:
                self._revoke_grant_locked(refresh.grant_id)

    # --- test and demo controls -------------------------------------------------------------------------------

    def expire_access_tokens(self, user_id: str | None = None) -> int:
        """Make live access tokens (of one user, or everyone's) expired now, as if their TTL had passed."""
        now = self.clock.now()
        with self._lock:
            targets = [a for a in self._access.values() if user_id is None or a.user_id == user_id]
            for access in targets:
                self._access[access.token] = replace(access, expires_at=min(access.expires_at, now))
        return len(targets)

    def revoke_user_grants(self, user_id: str, client_id: str | None = None) -> int:
        """Simulate the user removing the app in Acme's settings: tokens, codes and remembered consent go."""
        with self._lock:
            matching = {
                item.grant_id
                for item in self._grant_items_locked()
                if item.user_id == user_id and client_id in (None, item.client_id)
            }
            for grant_id in matching:
                self._revoke_grant_locked(grant_id)
            self._forget_consent_locked(user_id, client_id)
        return len(matching)

    def live_token_count(self, user_id: str | None = None) -> int:
        """Access tokens that still work plus refresh tokens that can still be used."""
        now = self.clock.now()
        with self._lock:
            live = [a.user_id for a in self._access.values() if a.expires_at > now]
            live += [r.user_id for r in self._refresh.values() if not r.rotated]
        return sum(1 for owner in live if user_id is None or owner == user_id)

    # --- internals (caller holds the lock) ---------------------------------------------------------------------

    def _new_access(self, refresh: RefreshToken) -> AccessToken:
        expires_at = self.clock.now() + self._access_token_ttl
        token = new_secret("acme_at_")
        return AccessToken(token, refresh.client_id, refresh.user_id, refresh.scopes, expires_at, refresh.grant_id)

    def _revoke_grant_locked(self, grant_id: str) -> None:
        self._access = {k: v for k, v in self._access.items() if v.grant_id != grant_id}
        self._refresh = {k: v for k, v in self._refresh.items() if v.grant_id != grant_id}
        self._codes = {k: v for k, v in self._codes.items() if v.grant_id != grant_id}

    def _grant_items_locked(self) -> list[AccessToken | RefreshToken | AuthorizationCode]:
        return [*self._access.values(), *self._refresh.values(), *self._codes.values()]

    def _forget_consent_locked(self, user_id: str, client_id: str | None) -> None:
        for key in [k for k in self._consents if k[0] == user_id and client_id in (None, k[1])]:
            del self._consents[key]
        for remembered in self._devices.values():
            remembered.difference_update({p for p in remembered if p[0] == user_id and client_id in (None, p[1])})
