"""The scanner's data: recorded HTTP exchanges, what discovery and the probes observed, and check results.

Everything here is a frozen dataclass built once by ``probe.py`` (I/O) and read by the pure functions in
``checks/``. An :class:`Exchange` keeps the raw response because checks need it (a code in a ``Location``, the
attributes of a cookie); nothing raw ever leaves the scanner: :mod:`deputy.scanner.evidence` redacts as it
describes an exchange, and the runner scrubs every known secret from the finished report once more.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final
from urllib.parse import urljoin

__all__ = [
    "REDIRECT_STATUSES",
    "ActiveObservations",
    "AuthorizeTrip",
    "CheckResult",
    "Discovery",
    "Evidence",
    "Exchange",
    "Probe",
    "ResourceProbes",
    "ScanReport",
    "Status",
    "TripProbe",
]

REDIRECT_STATUSES: Final = frozenset({301, 302, 303, 307, 308})


class Status(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    WARNING = "warning"
    NOT_APPLICABLE = "not_applicable"


@dataclass(frozen=True)
class Exchange:
    """One HTTP request and what came back; ``status`` is ``None`` when no response was received.

    ``skipped`` says why the request was never sent (host not allowed, time budget spent); ``error`` says why a
    sent request got no response (timeout, connection refused). The body is capped by the prober.
    """

    method: str
    url: str
    request_headers: tuple[tuple[str, str], ...] = ()
    request_body_size: int = 0
    status: int | None = None
    response_headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    error: str | None = None
    skipped: str | None = None

    @property
    def answered(self) -> bool:
        return self.status is not None

    @property
    def failure(self) -> str:
        """Why there is no response, for messages (empty when there is one)."""
        if self.skipped:
            return f"not sent: {self.skipped}"
        if self.error:
            return f"no response: {self.error}"
        return ""

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.response_headers if k.lower() == lowered), None)

    def header_list(self, name: str) -> tuple[str, ...]:
        lowered = name.lower()
        return tuple(v for k, v in self.response_headers if k.lower() == lowered)

    def request_header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.request_headers if k.lower() == lowered), None)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json_object(self) -> dict[str, object] | None:
        """The body as a JSON object, or ``None`` (not JSON, or not an object)."""
        try:
            value = json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            return None
        return value if isinstance(value, dict) else None

    @property
    def location(self) -> str | None:
        """The ``Location`` of a redirect, resolved against the request URL."""
        if self.status not in REDIRECT_STATUSES:
            return None
        value = self.header("location")
        return urljoin(self.url, value) if value else None

    @property
    def is_html(self) -> bool:
        return "html" in (self.header("content-type") or "").lower()


@dataclass(frozen=True)
class Evidence:
    """What a check saw, already redacted: the request line (plus the headers that matter) and the response."""

    request: str
    response: str


@dataclass(frozen=True)
class CheckResult:
    check_id: str
    status: Status
    message: str
    evidence: tuple[Evidence, ...] = ()


@dataclass(frozen=True)
class Probe:
    """A labelled exchange, e.g. one redirect-URI variant or one dangerous registration."""

    label: str
    value: str
    exchange: Exchange


@dataclass(frozen=True)
class Discovery:
    """Everything learnt from the MCP URL alone: the unauthenticated request, PRM and AS metadata."""

    mcp_url: str
    baseline: Exchange
    prm_attempts: tuple[Exchange, ...] = ()
    prm_url: str | None = None
    prm_source: str | None = None  # "header", "path-inserted", "root"
    prm: dict[str, object] | None = None
    issuer: str | None = None
    issuer_source: str | None = None  # "prm" or "origin" (2025-03-26 fallback when there is no PRM)
    as_attempts: tuple[Exchange, ...] = ()
    as_url: str | None = None
    as_metadata: dict[str, object] | None = None


@dataclass(frozen=True)
class ResourceProbes:
    """Passive requests to the MCP endpoint; ``None`` when not attempted (no endpoint, or no token given)."""

    foreign_origin: Exchange | None = None
    query_token: Exchange | None = None
    invalid_token: Exchange | None = None
    upstream_token: Exchange | None = None


@dataclass(frozen=True)
class AuthorizeTrip:
    """An authorization request and the redirects the scanner followed on the AS itself.

    ``left_to`` is the first redirect target outside the AS, recorded and never requested.
    """

    hops: tuple[Exchange, ...]
    left_to: str | None = None

    @property
    def last(self) -> Exchange:
        return self.hops[-1]


@dataclass(frozen=True)
class TripProbe:
    """A labelled authorization request, e.g. one redirect-URI variant."""

    label: str
    value: str
    trip: AuthorizeTrip


@dataclass(frozen=True)
class ActiveObservations:
    """What the ``--active`` probes saw. ``registration`` is the throwaway client's registration."""

    redirect_uri: str
    remote_redirect_uri: str | None = None
    authorization_endpoint: str | None = None
    client_name: str | None = None
    registration: Exchange | None = None
    client_id: str | None = None
    authorize: AuthorizeTrip | None = None
    variants: tuple[TripProbe, ...] = ()
    pkce_missing: AuthorizeTrip | None = None
    pkce_plain: AuthorizeTrip | None = None
    dangerous: tuple[Probe, ...] = ()
    large_body: Exchange | None = None
    burst: tuple[Exchange, ...] = ()
    burst_size: int = 0
    token_wrong_verifier: Exchange | None = None
    listener_hits: tuple[str, ...] = ()
    skipped: str | None = None  # why the active probes did not run

    @property
    def redirect_uris(self) -> tuple[str, ...]:
        return (self.redirect_uri,) + ((self.remote_redirect_uri,) if self.remote_redirect_uri else ())


@dataclass(frozen=True)
class ScanReport:
    target: str
    started_at: str
    duration_seconds: float
    active: bool
    results: tuple[CheckResult, ...]
    contacted: tuple[str, ...] = ()
    not_fetched: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def failed(self) -> bool:
        return any(r.status is Status.FAIL for r in self.results)

    def result(self, check_id: str) -> CheckResult:
        for r in self.results:
            if r.check_id == check_id:
                return r
        raise KeyError(check_id)
