"""What every service needs, built once by ``deputy.app.create_app``."""

from __future__ import annotations

from dataclasses import dataclass, field

from deputy.broker.vault import Vault
from deputy.clock import Clock
from deputy.config import Settings
from deputy.keys import KeyRing
from deputy.oauth.models import Client
from deputy.service.cache import CLIENT_TTL, BoundedCache
from deputy.storage.sql.store import SqlStore

__all__ = ["ServiceContext"]


@dataclass(frozen=True)
class ServiceContext:
    settings: Settings
    keys: KeyRing
    store: SqlStore
    vault: Vault
    clock: Clock
    clients_cache: BoundedCache[str, Client] = field(default_factory=lambda: BoundedCache(10_000, CLIENT_TTL))
    grants_cache: BoundedCache[str, tuple[str, str]] = field(default_factory=lambda: BoundedCache(100_000))

    @property
    def issuer(self) -> str:
        return self.settings.issuer

    @property
    def upstream_name(self) -> str:
        return self.settings.upstream.name
