"""Counters that let tests assert what the provider saw, e.g. that no consent page was shown."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

CounterName = Literal[
    "authorize_requests",
    "login_pages_shown",
    "logins",
    "consent_pages_shown",
    "consent_skipped",
    "codes_issued",
    "refreshes",
    "userinfo_requests",
    "revocations",
    "api_calls",
]


@dataclass
class AcmeStats:
    """Read the attributes directly; increments go through ``bump`` so concurrent requests never lose one."""

    authorize_requests: int = 0
    login_pages_shown: int = 0
    logins: int = 0
    consent_pages_shown: int = 0
    consent_skipped: int = 0
    codes_issued: int = 0
    token_requests: Counter[str] = field(default_factory=Counter)
    refreshes: int = 0
    userinfo_requests: int = 0
    revocations: int = 0
    api_calls: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def bump(self, counter: CounterName) -> None:
        with self._lock:
            setattr(self, counter, getattr(self, counter) + 1)

    def token_request(self, grant_type: str) -> None:
        """Count by grant type; unknown or absent grant types are pooled so a client cannot add keys at will."""
        key = grant_type if grant_type in ("authorization_code", "refresh_token") else "other"
        with self._lock:
            self.token_requests[key] += 1

    def reset(self) -> None:
        with self._lock:
            for name in self.__dataclass_fields__:
                if name == "token_requests":
                    self.token_requests.clear()
                elif name != "_lock":
                    setattr(self, name, 0)
