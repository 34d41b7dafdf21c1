"""One scan, start to finish: discovery, passive probes, (confirmed) active probes, checks, redaction."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx

from deputy.scanner.checks import evaluate
from deputy.scanner.listener import CallbackListener
from deputy.scanner.model import CheckResult, Evidence, ScanReport
from deputy.scanner.probe import MAX_BURST, Prober, active_plan, discover, probe_active, probe_resource
from deputy.scanner.redact import scrub
from deputy.scanner.urls import HostPolicy

__all__ = ["ScanAborted", "ScanConfig", "ScanError", "run_scan"]


class ScanError(Exception):
    """The scan could not run: bad input or the target cannot be reached (exit code 2)."""


class ScanAborted(ScanError):
    """The operator did not confirm the active probes."""


@dataclass(frozen=True)
class ScanConfig:
    url: str
    active: bool = False
    upstream_token: str | None = None
    timeout: float = 10.0
    max_seconds: float = 120.0
    burst: int = 30
    allow_hosts: tuple[str, ...] = ()

    def validate(self) -> None:
        """Raises:
        ScanError: an unusable URL or option.
        """
        parts = urlsplit(self.url)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise ScanError(f"not an http(s) URL: {self.url!r}")
        if parts.fragment:
            raise ScanError("the MCP URL must not have a fragment")
        if not 0 < self.timeout <= 300:
            raise ScanError("--timeout must be between 0 and 300 seconds")
        if not 0 < self.max_seconds <= 3600:
            raise ScanError("--max-seconds must be between 0 and 3600 seconds")
        if not 0 <= self.burst <= MAX_BURST:
            raise ScanError(f"--burst must be between 0 and {MAX_BURST}")
        for host in self.allow_hosts:
            try:
                HostPolicy.parse_allow(host)
            except ValueError as exc:
                raise ScanError(f"--allow-host: {exc}") from None


def _policy(config: ScanConfig) -> HostPolicy:
    policy = HostPolicy().with_url(config.url)
    for host in config.allow_hosts:
        policy = policy.union(HostPolicy.parse_allow(host))
    return policy


def _scrub_results(results: Iterable[CheckResult], known: set[str]) -> tuple[CheckResult, ...]:
    def clean(text: str) -> str:
        return scrub(text, known)

    return tuple(
        dataclasses.replace(
            r,
            message=clean(r.message),
            evidence=tuple(Evidence(clean(e.request), clean(e.response)) for e in r.evidence),
        )
        for r in results
    )


def run_scan(
    config: ScanConfig,
    *,
    progress: Callable[[str], None] = lambda _: None,
    confirm: Callable[[str], bool] = lambda _: False,
) -> ScanReport:
    """Scan ``config.url``. ``confirm`` receives the active plan and must return True for active probes to run.

    Raises:
        ScanError: bad configuration, or the MCP URL cannot be reached at all.
        ScanAborted: active probes were requested but not confirmed.
    """
    config.validate()
    started = time.monotonic()
    started_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    deadline = started + config.max_seconds
    notes: list[str] = []
    with httpx.Client(follow_redirects=False, trust_env=False, timeout=config.timeout) as client:
        prober = Prober(client, policy=_policy(config), timeout=config.timeout, deadline=deadline, progress=progress)
        if config.upstream_token:
            prober.secrets.add(config.upstream_token)
        progress("discovering")
        discovery = discover(prober, config.url)
        if discovery.baseline.error is not None:
            raise ScanError(f"cannot reach {config.url}: {discovery.baseline.error}")
        probes = probe_resource(prober, discovery, config.upstream_token)
        active = None
        if config.active:
            asked = time.monotonic()
            if not confirm(active_plan(discovery, config.burst)):
                raise ScanAborted("active probes were not confirmed; nothing beyond discovery was sent")
            waited = time.monotonic() - asked  # the operator's reading time does not count against --max-seconds
            deadline += waited
            prober.deadline = deadline
            lifetime = max(1.0, deadline - time.monotonic()) + config.timeout
            with CallbackListener(max_lifetime=lifetime) as listener:
                active = probe_active(prober, discovery, listener.redirect_uri, burst=config.burst)
                hits = listener.hits
            if hits:
                notes.append(f"the scanner's redirect listener received {len(hits)} request(s): {', '.join(hits)}")
                active = dataclasses.replace(active, listener_hits=hits)
        if time.monotonic() > deadline:
            notes.append("the time budget (--max-seconds) ran out; later probes were not sent")
        results = _scrub_results(evaluate(discovery, probes, active), prober.secrets)
    progress("done")
    return ScanReport(
        target=config.url,
        started_at=started_at,
        duration_seconds=round(time.monotonic() - started, 3),
        active=config.active,
        results=results,
        contacted=tuple(prober.contacted),
        not_fetched=tuple(scrub(u, prober.secrets) for u in prober.not_fetched),
        notes=tuple(scrub(n, prober.secrets) for n in notes),
    )
