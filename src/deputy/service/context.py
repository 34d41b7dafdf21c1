"""What every service needs, built once by ``deputy.app.create_app``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from deputy.clock import Clock
from deputy.config import Settings
from deputy.keys import KeyRing
from deputy.oauth.models import Client
from deputy.service.cache import CLIENT_TTL, BoundedCache
from deputy.service.document_cache import ClientDocuments
from deputy.storage.sql.store import SqlStore
from deputy.storage.sql.vault import SealedCredential

__all__ = ["CredentialSealer", "ServiceContext"]


class CredentialSealer(Protocol):
    """What the service layer may do with the vault: seal new credentials, and seal and open short-lived flow
    secrets bound to their flow. Opening a credential row is the broker's alone (``deputy.broker.vault.Vault``,
    which only ``deputy.broker`` may import: a ruff ``banned-api`` rule)."""

    def seal(
        self, *, user_id: str, upstream: str, purpose: str, secret: str, expires_at: int | None, now: int
    ) -> SealedCredential: ...

    def seal_bytes(self, context: str, secret: str) -> bytes: ...

    def open_bytes(self, context: str, blob: bytes) -> str: ...


class KeyWatcher(Protocol):
    def reload_if_changed(self) -> bool: ...


@dataclass(frozen=True)
class ServiceContext:
    settings: Settings
    keys: KeyRing
    store: SqlStore
    vault: CredentialSealer
    clock: Clock
    clients_cache: BoundedCache[str, Client] = field(default_factory=lambda: BoundedCache(10_000, CLIENT_TTL))
    grants_cache: BoundedCache[str, tuple[str, str]] = field(default_factory=lambda: BoundedCache(100_000))
    client_documents: ClientDocuments = field(default_factory=ClientDocuments)
    key_watcher: KeyWatcher | None = None

    @property
    def issuer(self) -> str:
        return self.settings.issuer

    @property
    def upstream_name(self) -> str:
        return self.settings.upstream.name
