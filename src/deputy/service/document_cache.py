"""The per-instance cache of client metadata documents and key sets, and the fetcher that fills it.

In memory and bounded to :data:`MAX_CACHED` documents and as many key sets. Entries expire at a time on Deputy's
clock, set from the response's ``Cache-Control`` (``deputy.net.cache_control``) and capped by
``client_metadata.max_cache_seconds``: that cap is the bound on how stale a document may be. Failures are never
put here.
"""

from __future__ import annotations

import logging
import ssl
import threading
from collections import OrderedDict
from typing import Final, Generic, TypeVar

from joserfc.jwk import KeySet

from deputy.config import ClientMetadataSettings
from deputy.net.fetcher import FetchPolicy, SafeFetcher
from deputy.oauth.client_metadata import ClientDocument

__all__ = ["MAX_CACHED", "ClientDocuments"]

log = logging.getLogger("deputy.client_documents")

MAX_CACHED: Final = 10_000
K = TypeVar("K")
V = TypeVar("V")


class _ExpiringCache(Generic[K, V]):
    """LRU whose entries expire at a time on Deputy's clock (so tests can move time instead of waiting)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[K, tuple[int, V]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K, now: int) -> V | None:
        with self._lock:
            item = self._items.get(key)
            if item is None or item[0] <= now:
                self._items.pop(key, None)
                return None
            self._items.move_to_end(key)
            return item[1]

    def put(self, key: K, value: V, expires_at: int) -> None:
        with self._lock:
            self._items[key] = (expires_at, value)
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)


class ClientDocuments:
    """The per-instance cache of documents and key sets, and the fetcher that fills it.

    ``fetcher`` replaces the one built from the configuration (tests inject a resolver this way).
    """

    def __init__(self, *, fetcher: SafeFetcher | None = None, size: int = MAX_CACHED) -> None:
        self._fetcher = fetcher
        self._lock = threading.Lock()
        self.documents: _ExpiringCache[str, ClientDocument] = _ExpiringCache(size)
        self.key_sets: _ExpiringCache[str, KeySet] = _ExpiringCache(size)

    def fetcher(self, settings: ClientMetadataSettings) -> SafeFetcher:
        with self._lock:
            if self._fetcher is None:
                self._fetcher = _fetcher_for(settings)
            return self._fetcher


def _fetcher_for(settings: ClientMetadataSettings) -> SafeFetcher:
    if settings.allow_loopback_fetch:
        log.warning("client_metadata.allow_loopback_fetch is on: documents may come from loopback (tests only)")
    policy = FetchPolicy(
        max_bytes=settings.max_bytes,
        timeout_seconds=settings.timeout_seconds,
        allow_loopback=settings.allow_loopback_fetch,
        allow_domains=settings.allow_domains,
        deny_domains=settings.deny_domains,
        max_cache_seconds=settings.max_cache_seconds,
    )
    context = ssl.create_default_context(cafile=str(settings.ca_file)) if settings.ca_file else None
    return SafeFetcher(policy, ssl_context=context)
