"""Active checks on the consent page: framing, caching, cookies, and whether it says who is asking."""

from __future__ import annotations

from deputy.scanner.checks.authorize import ready
from deputy.scanner.checks.common import Outcome, classify, result
from deputy.scanner.evidence import describe
from deputy.scanner.httpparse import Cookie, cache_directives, csp_directives, parse_set_cookie
from deputy.scanner.model import ActiveObservations, CheckResult, Exchange, Status
from deputy.scanner.urls import redirect_host

__all__ = ["check_consent_cookies", "check_consent_headers", "check_identifies_client", "cookie_problems"]

_PAGE_HEADERS = ("content-security-policy", "x-frame-options", "cache-control")


def _consent_page(a: ActiveObservations) -> Exchange | None:
    trip = a.authorize
    if trip is None or classify(trip.last, a.redirect_uris, a.authorization_endpoint or "") is not Outcome.PAGE:
        return None
    return trip.last


def check_consent_headers(active: ActiveObservations | None) -> CheckResult:
    cid = "consent.headers"
    a = ready(cid, active)
    if isinstance(a, CheckResult):
        return a
    page = _consent_page(a)
    if page is None:
        return result(cid, Status.NOT_APPLICABLE, "no consent page was shown")
    ev = describe(page, headers=_PAGE_HEADERS)
    problems: list[str] = []
    ancestors = csp_directives(page.header_list("content-security-policy")).get("frame-ancestors")
    xfo = (page.header("x-frame-options") or "").strip().lower()
    if ancestors not in (("'none'",), ("'self'",)) and xfo not in ("deny", "sameorigin"):
        problems.append("the page may be framed (no CSP frame-ancestors 'none' and no X-Frame-Options)")
    if "no-store" not in cache_directives(page.header_list("cache-control")):
        problems.append("no Cache-Control: no-store")
    if problems:
        return result(cid, Status.FAIL, "; ".join(problems), ev)
    return result(cid, Status.PASS, "framing is refused and the page is not stored", ev)


def cookie_problems(cookie: Cookie) -> list[str]:
    """What is wrong with one cookie for a consent/state cookie (MCP security best practices)."""
    problems: list[str] = []
    if not cookie.name.startswith("__Host-"):
        problems.append("no __Host- prefix")
    elif cookie.get("path") != "/" or cookie.has("domain"):
        problems.append("__Host- cookie without Path=/ or with Domain")
    if not cookie.has("secure"):
        problems.append("not Secure")
    if not cookie.has("httponly"):
        problems.append("not HttpOnly")
    samesite = (cookie.get("samesite") or "").lower()
    if samesite not in ("lax", "strict"):
        problems.append("no SameSite=Lax/Strict" if not samesite else f"SameSite={samesite}")
    return problems


def check_consent_cookies(active: ActiveObservations | None) -> CheckResult:
    cid = "consent.cookies"
    a = ready(cid, active)
    if isinstance(a, CheckResult):
        return a
    if a.authorize is None:
        return result(cid, Status.NOT_APPLICABLE, "the authorization request was not sent")
    hops = [h for h in a.authorize.hops if h.header_list("set-cookie")]
    cookies = [
        (hop, cookie)
        for hop in hops
        for cookie in map(parse_set_cookie, hop.header_list("set-cookie"))
        if not cookie.is_deletion
    ]
    if not cookies:
        return result(cid, Status.NOT_APPLICABLE, "no cookies were set during the authorization request")
    evidence = tuple(describe(h, headers=("set-cookie",)) for h in hops)
    bad = [f"{c.name}: {', '.join(p)}" for _, c in cookies if (p := cookie_problems(c))]
    if bad:
        return result(cid, Status.FAIL, "; ".join(bad), *evidence)
    names = ", ".join(c.name for _, c in cookies)
    return result(cid, Status.PASS, f"{names}: __Host-, Secure, HttpOnly, SameSite", *evidence)


def check_identifies_client(active: ActiveObservations | None) -> CheckResult:
    cid = "consent.identifies_client"
    a = ready(cid, active)
    if isinstance(a, CheckResult):
        return a
    page = _consent_page(a)
    if page is None:
        return result(cid, Status.NOT_APPLICABLE, "no consent page was shown")
    ev = describe(page, headers=("content-type",))
    text = page.text
    host = redirect_host(a.redirect_uri)
    missing = [
        what
        for what, needle in (("the client name", a.client_name or ""), ("the redirect host", host))
        if not needle or needle not in text
    ]
    if missing:
        return result(cid, Status.WARNING, "the page does not show " + " or ".join(missing), ev)
    return result(cid, Status.PASS, f"the page names the client ({a.client_name}) and the redirect host ({host})", ev)
