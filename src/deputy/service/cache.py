"""Small in-process caches with a stated bound on staleness (DESIGN.md, "Scale").

* clients: a loaded registration is reused for at most ``CLIENT_TTL`` seconds, so disabling a client or the expiry
  of an unused registration takes effect on every instance within that bound. Secrets are still checked on every
  request against the cached keyed hash.
* grant identity: the user and resource of a grant never change, so they are kept without expiry (bounded in
  size). Revocation is *not* cached: a live refresh token implies a live grant, because revoking a grant retires
  its refresh tokens in the same transaction.
* sealed upstream access tokens (``deputy.broker.credentials``): the *ciphertext* row, for at most
  ``SEALED_TTL`` seconds; it is decrypted on every call. A row replaced on another instance meanwhile shows up as
  an upstream 401, whose refresh path reads the database afresh and picks up the newer token without refreshing.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Generic, TypeVar

__all__ = ["CLIENT_TTL", "BoundedCache"]

CLIENT_TTL = 1.0
K = TypeVar("K")
V = TypeVar("V")


class BoundedCache(Generic[K, V]):
    """LRU with an optional time-to-live, safe to share between worker threads."""

    def __init__(self, size: int, ttl: float | None = None) -> None:
        self._size = size
        self._ttl = ttl
        self._items: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            stored_at, value = item
            if self._ttl is not None and time.monotonic() - stored_at > self._ttl:
                del self._items[key]
                return None
            self._items.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._items[key] = (time.monotonic(), value)
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def pop(self, key: K) -> None:
        with self._lock:
            self._items.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
