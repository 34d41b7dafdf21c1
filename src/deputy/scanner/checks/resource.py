"""Checks on the MCP endpoint itself (resource server): Origin, token placement, foreign tokens."""

from __future__ import annotations

from deputy.scanner.checks.common import bearer_challenge, result, unanswered
from deputy.scanner.evidence import describe
from deputy.scanner.model import CheckResult, Discovery, Exchange, ResourceProbes, Status

__all__ = [
    "check_invalid_token",
    "check_origin",
    "check_query_token",
    "check_upstream_token",
    "endpoint_missing",
]

_MISSING_STATUSES = frozenset({404, 405, 501})


def endpoint_missing(d: Discovery) -> str | None:
    """Why the MCP URL cannot be probed as an MCP endpoint, or ``None`` if it can."""
    b = d.baseline
    if not b.answered:
        return f"the MCP URL did not answer ({b.failure})"
    if b.status in _MISSING_STATUSES:
        return f"no MCP endpoint at the URL (it answered {b.status})"
    if b.location is not None:
        return f"the MCP URL redirects ({b.status}) and redirects are not followed"
    return None


_HEADERS = ("www-authenticate", "content-type")


def _gate(cid: str, d: Discovery, probe: Exchange | None, what: str) -> Exchange | CheckResult:
    """The answered exchange, or the result that says why there is nothing to judge."""
    missing = endpoint_missing(d)
    if missing:
        return result(cid, Status.NOT_APPLICABLE, missing)
    if probe is None:
        return result(cid, Status.NOT_APPLICABLE, "not probed")
    if not probe.answered:
        return unanswered(cid, probe, what)
    return probe


def check_origin(d: Discovery, p: ResourceProbes) -> CheckResult:
    cid = "transport.origin"
    x = _gate(cid, d, p.foreign_origin, "the foreign-Origin request")
    if isinstance(x, CheckResult):
        return x
    ev = describe(x, headers=_HEADERS)
    status = x.status or 0
    if status == 403:
        return result(cid, Status.PASS, "a foreign Origin is refused with 403", ev)
    if 200 <= status < 300:
        return result(cid, Status.FAIL, f"a request from a foreign Origin was served ({status})", ev)
    return result(
        cid,
        Status.FAIL,
        f"a foreign Origin got {status}, not 403: the Origin is not validated before anything else",
        ev,
    )


def check_query_token(d: Discovery, p: ResourceProbes) -> CheckResult:
    cid = "rs.query_token"
    x = _gate(cid, d, p.query_token, "the query-token request")
    if isinstance(x, CheckResult):
        return x
    ev = describe(x, headers=_HEADERS)
    status = x.status or 0
    if 200 <= status < 300:
        return result(cid, Status.FAIL, f"a token in ?access_token= was accepted ({status})", ev)
    challenge = bearer_challenge(x) if status == 401 else None
    if challenge is not None and challenge.param("error") == "invalid_token":
        return result(
            cid,
            Status.WARNING,
            "401 invalid_token: the server seems to read ?access_token= (it should ignore or reject the parameter)",
            ev,
        )
    if status in (400, 401):
        return result(cid, Status.PASS, f"the query-string token was not accepted ({status})", ev)
    return result(cid, Status.WARNING, f"unexpected {status} for a query-string token", ev)


def check_invalid_token(d: Discovery, p: ResourceProbes) -> CheckResult:
    cid = "rs.invalid_token"
    x = _gate(cid, d, p.invalid_token, "the unknown-token request")
    if isinstance(x, CheckResult):
        return x
    ev = describe(x, headers=_HEADERS)
    status = x.status or 0
    if 200 <= status < 300:
        return result(cid, Status.FAIL, f"a bearer token the server never issued was accepted ({status})", ev)
    if status == 401:
        return result(cid, Status.PASS, "an unknown bearer token gets 401", ev)
    return result(cid, Status.WARNING, f"an unknown bearer token got {status}, expected 401", ev)


def check_upstream_token(d: Discovery, p: ResourceProbes) -> CheckResult:
    cid = "rs.upstream_token"
    if p.upstream_token is None and not endpoint_missing(d):
        return result(
            cid, Status.NOT_APPLICABLE, "pass --upstream-token TOKEN (a token issued by the upstream) to test"
        )
    x = _gate(cid, d, p.upstream_token, "the upstream-token request")
    if isinstance(x, CheckResult):
        return x
    ev = describe(x, headers=_HEADERS)
    status = x.status or 0
    if 200 <= status < 300:
        return result(
            cid,
            Status.FAIL,
            f"token passthrough: the raw upstream token was accepted by the MCP endpoint ({status})",
            ev,
        )
    if status in (401, 403):
        return result(cid, Status.PASS, f"the upstream token was refused ({status})", ev)
    return result(cid, Status.WARNING, f"the upstream token got {status}, expected 401", ev)
