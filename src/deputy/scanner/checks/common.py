"""Helpers shared by the check modules: result constructors and the classification of authorization responses."""

from __future__ import annotations

from enum import StrEnum
from urllib.parse import parse_qs, urlsplit, urlunsplit

from deputy.scanner.evidence import describe
from deputy.scanner.httpparse import Challenge, parse_www_authenticate
from deputy.scanner.model import CheckResult, Evidence, Exchange, Status
from deputy.scanner.urls import authority

__all__ = [
    "Outcome",
    "bearer_challenge",
    "classify",
    "hop_evidence",
    "query_params",
    "result",
    "same_target",
    "unanswered",
]


def result(check_id: str, status: Status, message: str, *evidence: Evidence) -> CheckResult:
    return CheckResult(check_id, status, message, tuple(evidence))


def unanswered(check_id: str, exchange: Exchange, what: str) -> CheckResult:
    """A probe got no response: the check could not be evaluated, which is worth a warning, not a pass."""
    return result(check_id, Status.WARNING, f"could not evaluate {what}: {exchange.failure}", describe(exchange))


def bearer_challenge(exchange: Exchange) -> Challenge | None:
    challenges = parse_www_authenticate(exchange.header_list("www-authenticate"))
    return next((c for c in challenges if c.scheme.lower() == "bearer"), None)


def query_params(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query, keep_blank_values=True).items()}


def same_target(url: str, redirect_uri: str) -> bool:
    """Whether ``url`` is a redirect to ``redirect_uri`` (scheme, authority and path exactly; any query)."""
    a, b = urlsplit(url), urlsplit(redirect_uri)
    return urlunsplit((a.scheme, a.netloc, a.path, "", "")) == urlunsplit((b.scheme, b.netloc, b.path, "", ""))


class Outcome(StrEnum):
    """What an authorization request led to, from the last response the scanner received."""

    PAGE = "page"  # 2xx HTML on the AS: an interactive page (consent or sign-in)
    OTHER_2XX = "other-2xx"
    REFUSED = "refused"  # 4xx/5xx answered locally
    CODE = "code"  # redirect to the client's redirect URI with a code
    ERROR_REDIRECT = "error-redirect"  # redirect to the client's redirect URI with an error
    CLIENT_REDIRECT = "client-redirect"  # redirect to the client's redirect URI with neither
    OFF_HOST = "off-host"  # redirect to a host other than the AS (upstream, or anywhere)
    ON_HOST = "on-host"  # redirect within the AS that the scanner did not follow further
    NO_RESPONSE = "no-response"


def classify(exchange: Exchange, redirect_uris: tuple[str, ...], as_url: str) -> Outcome:
    if not exchange.answered:
        return Outcome.NO_RESPONSE
    location = exchange.location
    if location is not None:
        if any(same_target(location, uri) for uri in redirect_uris):
            params = query_params(location)
            if "code" in params:
                return Outcome.CODE
            return Outcome.ERROR_REDIRECT if "error" in params else Outcome.CLIENT_REDIRECT
        return Outcome.ON_HOST if authority(location) == authority(as_url) else Outcome.OFF_HOST
    status = exchange.status or 0
    if 200 <= status < 300:
        return Outcome.PAGE if exchange.is_html else Outcome.OTHER_2XX
    return Outcome.REFUSED


def hop_evidence(hops: tuple[Exchange, ...]) -> tuple[Evidence, ...]:
    return tuple(describe(h, headers=("location", "content-type", "set-cookie")) for h in hops)
