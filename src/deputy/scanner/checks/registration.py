"""Active checks on dynamic client registration: redirect URI policy, body size, rate limit."""

from __future__ import annotations

from deputy.scanner.checks.authorize import ready
from deputy.scanner.checks.common import result
from deputy.scanner.evidence import describe
from deputy.scanner.model import ActiveObservations, CheckResult, Status

__all__ = ["check_body_limit", "check_dangerous_redirects", "check_rate_limit"]

_ERROR_KEYS = ("error", "error_description", "redirect_uris")


def check_dangerous_redirects(active: ActiveObservations | None) -> CheckResult:
    cid = "reg.redirect_uri_policy"
    a = ready(cid, active)
    if isinstance(a, CheckResult):
        return a
    if not a.dangerous:
        return result(cid, Status.NOT_APPLICABLE, "no registrations were attempted")
    evidence = tuple(describe(p.exchange, json_keys=_ERROR_KEYS, note=f"{p.label}: {p.value}") for p in a.dangerous)
    accepted = [p.label for p in a.dangerous if p.exchange.status is not None and 200 <= p.exchange.status < 300]
    if accepted:
        return result(cid, Status.FAIL, "registered: " + ", ".join(accepted), *evidence)
    unanswered = [p.label for p in a.dangerous if not p.exchange.answered]
    if unanswered:
        return result(cid, Status.WARNING, "no answer for: " + ", ".join(unanswered), *evidence)
    return result(cid, Status.PASS, f"all {len(a.dangerous)} dangerous redirect URIs were refused", *evidence)


def check_body_limit(active: ActiveObservations | None) -> CheckResult:
    cid = "reg.body_limit"
    a = ready(cid, active)
    if isinstance(a, CheckResult):
        return a
    x = a.large_body
    if x is None:
        return result(cid, Status.NOT_APPLICABLE, "not sent")
    ev = describe(x, json_keys=("error", "error_description"))
    if not x.answered:
        return result(cid, Status.WARNING, f"no response to a 1 MB registration ({x.failure})", ev)
    status = x.status or 0
    if 200 <= status < 300:
        return result(cid, Status.FAIL, f"a 1 MB registration was accepted ({status})", ev)
    if 400 <= status < 500:
        return result(cid, Status.PASS, f"a 1 MB registration was refused ({status})", ev)
    return result(cid, Status.WARNING, f"a 1 MB registration got {status}", ev)


def check_rate_limit(active: ActiveObservations | None) -> CheckResult:
    cid = "reg.rate_limit"
    a = ready(cid, active)
    if isinstance(a, CheckResult):
        return a
    if not a.burst:
        return result(cid, Status.NOT_APPLICABLE, "no burst was sent")
    for index, x in enumerate(a.burst, start=1):
        if x.status == 429:
            ev = describe(x, headers=("retry-after",), json_keys=("error",))
            return result(cid, Status.PASS, f"429 after {index} registration(s) in the burst", ev)
    ev = describe(a.burst[-1], json_keys=("error",))
    statuses = sorted({str(x.status) if x.answered else "no response" for x in a.burst})
    return result(
        cid,
        Status.WARNING,
        f"{len(a.burst)} of {a.burst_size} registrations sent without a 429 (statuses: {', '.join(statuses)})",
        ev,
    )
