"""Frozen domain records shared by the core, the services and the stores.

Field names follow the RFCs where one exists (``client_id``, ``redirect_uri``, ``code_challenge``). Secrets never
appear here in clear: codes, refresh tokens, CSRF tokens and client secrets are represented by keyed hashes.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "AuthorizationCode",
    "Client",
    "ClientKind",
    "Consent",
    "Flow",
    "FlowStatus",
    "Grant",
    "RefreshToken",
    "User",
]


class ClientKind(StrEnum):
    DYNAMIC = "dynamic"  # RFC 7591 registration: unverified, expires when unused
    STATIC = "static"  # pre-registered by the operator in the configuration
    DOCUMENT = "document"  # https client_id naming its client metadata document; never stored


@dataclass(frozen=True)
class Client:
    client_id: str
    client_name: str
    redirect_uris: tuple[str, ...]
    token_endpoint_auth_method: str
    kind: ClientKind
    created_at: int
    secret_hash: str | None = None
    grant_types: tuple[str, ...] = ("authorization_code", "refresh_token")
    scope: tuple[str, ...] | None = None
    application_type: str = "web"
    client_uri: str | None = None
    last_used_at: int | None = None
    expires_at: int | None = None
    disabled_at: int | None = None

    @property
    def is_public(self) -> bool:
        return self.token_endpoint_auth_method == "none"


class FlowStatus(StrEnum):
    """The consent state machine (see ``deputy.consent.flow``)."""

    PENDING = "pending"  # consent page shown, nothing sent upstream, no state cookie
    APPROVED = "approved"  # decision recorded, upstream state created, binding cookie set
    DENIED = "denied"  # user said no; access_denied went back to the client
    CALLBACK = "callback"  # upstream state consumed (one-shot); exchange in progress
    COMPLETED = "completed"  # Deputy code issued to the registered redirect URI
    FAILED = "failed"  # upstream said no or broke; error shown locally or sent to the client


@dataclass(frozen=True)
class Flow:
    """One browser authorization transaction, from /authorize to Deputy's code."""

    flow_id: str
    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    code_challenge: str
    resource: str
    state: str | None
    status: FlowStatus
    created_at: int
    expires_at: int
    csrf_hash: str
    session_user_id: str | None = None
    decided_at: int | None = None
    upstream_verifier: str | None = None


@dataclass(frozen=True)
class User:
    user_id: str
    upstream_subject: str
    display_name: str
    created_at: int


@dataclass(frozen=True)
class Consent:
    """A recorded approval for the exact tuple (user, client, redirect URI, scopes)."""

    user_id: str
    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    approved_at: int
    last_used_at: int | None = None
    revoked_at: int | None = None
    reauth_required_at: int | None = None  # set when the upstream refused this user's refresh token


@dataclass(frozen=True)
class Grant:
    """A token family: everything issued from one authorization code shares it, so reuse revokes it all."""

    grant_id: str
    user_id: str
    client_id: str
    scopes: tuple[str, ...]
    resource: str
    created_at: int
    revoked_at: int | None = None


@dataclass(frozen=True)
class AuthorizationCode:
    code_hash: str
    grant_id: str
    client_id: str
    redirect_uri: str
    code_challenge: str
    resource: str
    scopes: tuple[str, ...]
    user_id: str
    expires_at: int
    used_at: int | None = None


@dataclass(frozen=True)
class RefreshToken:
    token_hash: str
    grant_id: str
    client_id: str
    scopes: tuple[str, ...]
    created_at: int
    expires_at: int
    rotated_at: int | None = None
