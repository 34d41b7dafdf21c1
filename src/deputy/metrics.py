"""Prometheus metrics: one registry for the process, fed from three places.

* **Audit events.** Every security decision is already an audit event (DESIGN.md invariant 7), so one observer on
  ``deputy.audit.log.audit`` counts them all by event and outcome: flows, consents, codes, tokens, refusals, broker
  refreshes, revocations. Refused token requests are also counted by grant and reason, which the event name alone
  does not tell. The mapping from events to questions an operator asks is in ``docs/operations.md``.
* **HTTP.** ``deputy.http.request_id`` records each request by route template (never the raw path), method and
  status.
* **Upstream.** :func:`timed_upstream` wraps the one place each kind of upstream request is sent.

Label values are bounded: routes are templates or ``other``, methods a fixed set or ``other``, and every label fed
from event data keeps at most a fixed number of distinct values (later newcomers count as ``other``), so no input
can grow the series count without limit.
"""

from __future__ import annotations

import functools
import re
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final, Literal, ParamSpec, TypeVar

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from deputy.audit import log as audit_log

__all__ = [
    "REGISTRY",
    "UpstreamKind",
    "install_audit_metrics",
    "observe_audit_event",
    "observe_http_request",
    "timed_upstream",
]

P = ParamSpec("P")
R = TypeVar("R")

UpstreamKind = Literal["token", "api"]

REGISTRY: Final = CollectorRegistry()
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
GCCollector(registry=REGISTRY)

_AUDIT_EVENTS: Final = Counter(
    "deputy_audit_events_total",
    "Audit events appended, by event name and outcome (every security decision is one).",
    ["event", "outcome"],
    registry=REGISTRY,
)
_TOKENS_REFUSED: Final = Counter(
    "deputy_tokens_refused_total",
    "Token requests refused and audited, by grant type and reason (reuse detections included).",
    ["grant", "reason"],
    registry=REGISTRY,
)
_HTTP_REQUESTS: Final = Counter(
    "deputy_http_requests_total",
    "HTTP requests answered, by route template, method and status.",
    ["route", "method", "status"],
    registry=REGISTRY,
)
_HTTP_DURATION: Final = Histogram(
    "deputy_http_request_duration_seconds",
    "Time from request start to the end of the response, by route template.",
    ["route"],
    registry=REGISTRY,
)
_UPSTREAM_DURATION: Final = Histogram(
    "deputy_upstream_request_duration_seconds",
    "Time spent on one upstream request: kind=token (the upstream token endpoint) or kind=api (a brokered call).",
    ["kind"],
    registry=REGISTRY,
)

_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

# Audit events that refuse a token request, and the grant they concern.
_REFUSALS: Final = {
    "code.refused": "authorization_code",
    "code.reused": "authorization_code",
    "refresh.refused": "refresh_token",
    "refresh.reuse_detected": "refresh_token",
    "token.exchange_refused": "token_exchange",
}
_LABEL_TEXT = re.compile(r"[^a-z0-9]+")


class _BoundedLabel:
    """At most ``limit`` distinct values; values first seen after that are reported as ``other``."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, value: str) -> str:
        value = value[:64]
        if value in self._seen:
            return value
        with self._lock:
            if len(self._seen) < self._limit:
                self._seen.add(value)
                return value
        return "other"


_event_label = _BoundedLabel(200)
_outcome_label = _BoundedLabel(20)
_reason_label = _BoundedLabel(50)
_route_label = _BoundedLabel(100)


def _reason(event: str, detail: Mapping[str, Any]) -> str:
    if event.endswith(("reused", "reuse_detected")):
        return "reused"
    raw = detail.get("error") if event == "token.exchange_refused" else detail.get("reason")
    text = _LABEL_TEXT.sub("_", str(raw).lower()).strip("_")[:40] if raw else ""
    return text or "unspecified"


@functools.lru_cache(maxsize=1024)
def _audit_child(event: str, outcome: str) -> Any:
    return _AUDIT_EVENTS.labels(_event_label(event), _outcome_label(outcome))


def observe_audit_event(event: str, outcome: str, detail: Mapping[str, Any]) -> None:
    """Count one appended audit event (an observer of ``deputy.audit.log.audit``)."""
    _audit_child(event, outcome).inc()
    grant = _REFUSALS.get(event)
    if grant is not None:
        _TOKENS_REFUSED.labels(grant, _reason_label(_reason(event, detail))).inc()


def install_audit_metrics() -> None:
    """Register :func:`observe_audit_event` with the audit writer; idempotent."""
    if observe_audit_event not in audit_log.OBSERVERS:
        audit_log.OBSERVERS.append(observe_audit_event)


@functools.lru_cache(maxsize=4096)
def _http_children(route: str | None, method: str, status: int) -> tuple[Any, Any]:
    """The labelled series for one (route, method, status): ``labels()`` is a lock and a dict walk per call, and
    this is on every request's path. The inputs are bounded (route templates, methods, statuses)."""
    label = _route_label(route) if route is not None else "other"
    method_label = method if method in _METHODS else "other"
    return _HTTP_REQUESTS.labels(label, method_label, str(status)), _HTTP_DURATION.labels(label)


def observe_http_request(route: str | None, method: str, status: int, seconds: float) -> None:
    """Record one answered request. ``route`` is the matched route's template, ``None`` when nothing matched."""
    requests, duration = _http_children(route, method, status)
    requests.inc()
    duration.observe(seconds)


def timed_upstream(kind: UpstreamKind) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """Decorate the coroutine that sends one upstream request: its duration is observed however it ends."""
    histogram = _UPSTREAM_DURATION.labels(kind)

    def decorate(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        @functools.wraps(fn)
        async def timed(*args: P.args, **kwargs: P.kwargs) -> R:
            started = time.perf_counter()
            try:
                return await fn(*args, **kwargs)
            finally:
                histogram.observe(time.perf_counter() - started)

        return timed

    return decorate
