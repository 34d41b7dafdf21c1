"""Consent-page checks on recorded responses: framing and caching headers, cookie attributes, client identity."""

from __future__ import annotations

from scan_support import GOOD_PAGE_HEADERS, UPSTREAM, good_active, page, redirect, trip

from deputy.scanner.checks import consent
from deputy.scanner.httpparse import parse_set_cookie
from deputy.scanner.model import Status

SAFE_COOKIE = "__Host-csrf=v; Path=/; Secure; HttpOnly; SameSite=Lax"


def test_headers_pass() -> None:
    assert consent.check_consent_headers(good_active()).status is Status.PASS


def test_x_frame_options_alone_is_enough() -> None:
    a = good_active(authorize=trip(page(headers=[("x-frame-options", "DENY"), ("cache-control", "no-store")])))
    assert consent.check_consent_headers(a).status is Status.PASS


def test_frameable_page_fails() -> None:
    a = good_active(authorize=trip(page(headers=[("cache-control", "no-store")])))
    r = consent.check_consent_headers(a)
    assert r.status is Status.FAIL
    assert "framed" in r.message


def test_cacheable_page_fails() -> None:
    a = good_active(authorize=trip(page(headers=[("content-security-policy", "frame-ancestors 'none'")])))
    r = consent.check_consent_headers(a)
    assert r.status is Status.FAIL
    assert "no-store" in r.message


def test_headers_not_applicable_without_a_page() -> None:
    a = good_active(authorize=trip(redirect(UPSTREAM), left_to=UPSTREAM))
    assert consent.check_consent_headers(a).status is Status.NOT_APPLICABLE


def test_cookies_pass() -> None:
    r = consent.check_consent_cookies(good_active())
    assert r.status is Status.PASS
    assert "s3cr3t-cookie-value" not in repr(r)


def test_cookie_without_attributes_fails() -> None:
    a = good_active(authorize=trip(redirect(UPSTREAM, cookies=["proxy_flow=abc123; Path=/"]), left_to=UPSTREAM))
    r = consent.check_consent_cookies(a)
    assert r.status is Status.FAIL
    for problem in ("__Host-", "Secure", "HttpOnly", "SameSite"):
        assert problem in r.message
    assert "abc123" not in repr(r)


def test_each_missing_cookie_attribute_is_named() -> None:
    assert consent.cookie_problems(parse_set_cookie(SAFE_COOKIE)) == []
    cases = {
        "__Host-a=v; Path=/; HttpOnly; SameSite=Lax": "not Secure",
        "__Host-a=v; Path=/; Secure; SameSite=Lax": "not HttpOnly",
        "__Host-a=v; Path=/; Secure; HttpOnly": "no SameSite=Lax/Strict",
        "__Host-a=v; Path=/; Secure; HttpOnly; SameSite=None": "SameSite=none",
        "__Host-a=v; Path=/x; Secure; HttpOnly; SameSite=Lax": "__Host- cookie without Path=/ or with Domain",
        "a=v; Path=/; Secure; HttpOnly; SameSite=Strict": "no __Host- prefix",
    }
    for header, problem in cases.items():
        assert consent.cookie_problems(parse_set_cookie(header)) == [problem], header


def test_deleted_cookies_are_ignored_and_no_cookies_is_not_applicable() -> None:
    a = good_active(authorize=trip(page(headers=[("set-cookie", "old=; Max-Age=0; Path=/")])))
    assert consent.check_consent_cookies(a).status is Status.NOT_APPLICABLE


def test_identifies_client_pass_and_warning() -> None:
    assert consent.check_identifies_client(good_active()).status is Status.PASS
    a = good_active(authorize=trip(page("<form>Allow this app?</form>", headers=GOOD_PAGE_HEADERS)))
    r = consent.check_identifies_client(a)
    assert r.status is Status.WARNING
    assert "client name" in r.message
