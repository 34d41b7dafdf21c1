"""Table definitions. Every secret column holds a keyed hash or AEAD ciphertext, never the value itself.

Times are integer epoch seconds: comparable in SQL on both SQLite and PostgreSQL without timezone surprises.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

__all__ = ["metadata"]

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "pk": "pk_%(table_name)s",
    }
)

Timestamp = BigInteger

clients = Table(
    "clients",
    metadata,
    Column("client_id", String(200), primary_key=True),
    Column("client_name", String(200), nullable=False),
    Column("redirect_uris", Text, nullable=False),  # JSON list
    Column("token_endpoint_auth_method", String(40), nullable=False),
    Column("secret_hash", String(128)),
    Column("grant_types", Text, nullable=False),  # JSON list
    Column("scope", Text),  # space-delimited, NULL = any configured scope
    Column("application_type", String(16), nullable=False),
    Column("client_uri", Text),
    Column("kind", String(16), nullable=False),
    Column("registered_from", String(128)),  # keyed hash of the registering address
    Column("created_at", Timestamp, nullable=False),
    Column("last_used_at", Timestamp),
    Column("expires_at", Timestamp),
    Column("disabled_at", Timestamp),
    Index("ix_clients_registered_from_created", "registered_from", "created_at"),
    Index("ix_clients_expires_at", "expires_at"),
)

flows = Table(
    "flows",
    metadata,
    Column("flow_id", String(100), primary_key=True),
    Column("client_id", String(200), nullable=False),
    Column("redirect_uri", Text, nullable=False),
    Column("scopes", Text, nullable=False),
    Column("code_challenge", String(100), nullable=False),
    Column("resource", Text, nullable=False),
    Column("state", Text),
    Column("status", String(16), nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("expires_at", Timestamp, nullable=False),
    Column("csrf_hash", String(128), nullable=False),
    Column("session_user_id", String(64)),
    Column("decided_at", Timestamp),
    Column("upstream_state_hash", String(128), unique=True),
    Column("binding_hash", String(128)),
    Column("upstream_verifier", LargeBinary),  # AEAD ciphertext (vault cipher)
    Column("remembered_at", Timestamp),  # approved from a remembered consent, without the page (docs/consent.md)
    Index("ix_flows_expires_at", "expires_at"),
)

users = Table(
    "users",
    metadata,
    Column("user_id", String(64), primary_key=True),
    Column("upstream_subject", String(255), nullable=False, unique=True),
    Column("display_name", String(255), nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("last_login_at", Timestamp),
)

browser_sessions = Table(
    "browser_sessions",
    metadata,
    Column("session_hash", String(128), primary_key=True),
    Column("user_id", String(64), nullable=False, index=True),
    Column("created_at", Timestamp, nullable=False),
    Column("expires_at", Timestamp, nullable=False),
)

consents = Table(
    "consents",
    metadata,
    Column("consent_id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", String(64), nullable=False),
    Column("client_id", String(200), nullable=False),
    Column("redirect_uri", Text, nullable=False),
    Column("scopes", Text, nullable=False),
    Column("approved_at", Timestamp, nullable=False),
    Column("last_used_at", Timestamp),
    Column("revoked_at", Timestamp),
    Column("reauth_required_at", Timestamp),  # the upstream refused the refresh token: authorize again
    Column("remember_until", Timestamp),  # approved on the page under consent.prompt = "remember"
    UniqueConstraint("user_id", "client_id", "redirect_uri", "scopes", name="uq_consents_tuple"),
    Index("ix_consents_client", "client_id"),
)

grants = Table(
    "grants",
    metadata,
    Column("grant_id", String(64), primary_key=True),
    Column("user_id", String(64), nullable=False, index=True),
    Column("client_id", String(200), nullable=False, index=True),
    Column("scopes", Text, nullable=False),
    Column("resource", Text, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("revoked_at", Timestamp),
    Column("revoked_reason", String(64)),
    Index("ix_grants_revoked_at", "revoked_at"),
)

authorization_codes = Table(
    "authorization_codes",
    metadata,
    Column("code_hash", String(128), primary_key=True),
    Column("grant_id", String(64), nullable=False),
    Column("client_id", String(200), nullable=False),
    Column("redirect_uri", Text, nullable=False),
    Column("code_challenge", String(100), nullable=False),
    Column("resource", Text, nullable=False),
    Column("scopes", Text, nullable=False),
    Column("user_id", String(64), nullable=False),
    Column("expires_at", Timestamp, nullable=False),
    Column("used_at", Timestamp),
)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("token_hash", String(128), primary_key=True),
    Column("grant_id", String(64), nullable=False, index=True),
    Column("client_id", String(200), nullable=False),
    Column("scopes", Text, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("expires_at", Timestamp, nullable=False),
    Column("rotated_at", Timestamp),
)

revoked_access_tokens = Table(
    "revoked_access_tokens",
    metadata,
    Column("jti", String(64), primary_key=True),
    Column("grant_id", String(64), nullable=False),
    Column("revoked_at", Timestamp, nullable=False, index=True),
    Column("expires_at", Timestamp, nullable=False),
)

upstream_credentials = Table(
    "upstream_credentials",
    metadata,
    Column("user_id", String(64), primary_key=True),
    Column("upstream", String(100), primary_key=True),
    Column("purpose", String(32), primary_key=True),
    Column("key_id", String(32), nullable=False),
    Column("ciphertext", LargeBinary, nullable=False),  # nonce || AES-256-GCM(ciphertext || tag)
    Column("expires_at", Timestamp),
    Column("updated_at", Timestamp, nullable=False),
    Column("lease_until", Timestamp),  # refresh in progress somewhere: one upstream refresh per user at a time
)

audit_events = Table(
    "audit_events",
    metadata,
    # Assigned by the appender (previous + 1, gap-free), never by the database: the chain MACs it. INTEGER on
    # SQLite so that it stays the rowid.
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False),
    Column("at", Timestamp, nullable=False),
    Column("event", String(64), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("client_id", String(200)),
    Column("user_id", String(64)),
    Column("detail", Text, nullable=False),  # canonical JSON, never a secret
    Column("request_id", String(128)),
    Column("key_id", String(64)),  # the audit key that MACed the entry; NULL only on entries older than the chain
    Column("mac", String(64)),  # hex HMAC-SHA256 chained to the previous entry (deputy.audit.chain)
    Index("ix_audit_events_event", "event"),
)

# One row (id = 1): the chain's last entry, signed. Every append updates it in the same transaction; a log whose
# last entry differs from it has lost its tail.
audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("mac", String(64)),
    Column("key_id", String(64)),
    Column("head_mac", String(64)),
)

client_assertions = Table(
    "client_assertions",
    metadata,
    Column("assertion_hash", String(64), primary_key=True),  # SHA-256 of client_id and jti: replay detection only
    Column("expires_at", Timestamp, nullable=False),
    Index("ix_client_assertions_expires_at", "expires_at"),
)

# Write-tool drafts awaiting the user's confirmation (deputy.intents). ``arguments`` is the canonical JSON of the
# validated arguments (what the user sees and what the intent hash covers); ``digest`` is the signed intent digest
# once the user approved. No credential is ever stored here.
intent_drafts = Table(
    "intent_drafts",
    metadata,
    Column("draft_id", String(64), primary_key=True),
    Column("tool", String(64), nullable=False),
    Column("arguments", Text, nullable=False),
    Column("intent_hash", String(64), nullable=False),
    Column("user_id", String(64), nullable=False),
    Column("client_id", String(200), nullable=False),
    Column("grant_id", String(64), nullable=False),
    Column("method", String(8), nullable=False),
    Column("target", Text, nullable=False),  # the upstream URL: API base URL + expanded path
    Column("status", String(16), nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("expires_at", Timestamp, nullable=False),
    Column("csrf_hash", String(128), nullable=False),
    Column("decided_at", Timestamp),
    Column("digest", Text),
    Column("committed_at", Timestamp),
    Index("ix_intent_drafts_expires_at", "expires_at"),
    Index("ix_intent_drafts_grant_status", "grant_id", "status"),
)
