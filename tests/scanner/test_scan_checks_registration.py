"""Registration checks on recorded responses: dangerous redirect URIs, 1 MB bodies, rate limits."""

from __future__ import annotations

from scan_support import ISSUER, ex, good_active, registration

from deputy.scanner.checks import registration as checks
from deputy.scanner.model import Probe, Status


def test_dangerous_redirects_refused_pass() -> None:
    assert checks.check_dangerous_redirects(good_active()).status is Status.PASS


def test_dangerous_redirect_registered_fails() -> None:
    a = good_active(dangerous=(Probe("javascript", "javascript:alert(1)", registration(201)),))
    r = checks.check_dangerous_redirects(a)
    assert r.status is Status.FAIL
    assert "javascript" in r.message


def test_body_limit_pass_and_fail() -> None:
    assert checks.check_body_limit(good_active()).status is Status.PASS
    a = good_active(large_body=registration(201))
    assert checks.check_body_limit(a).status is Status.FAIL


def test_body_limit_connection_closed_warns() -> None:
    a = good_active(large_body=ex(None, method="POST", url=f"{ISSUER}/register", error="RemoteProtocolError"))
    assert checks.check_body_limit(a).status is Status.WARNING


def test_rate_limit_pass_and_warning() -> None:
    r = checks.check_rate_limit(good_active())
    assert r.status is Status.PASS
    assert "after 3" in r.message
    a = good_active(burst=tuple(registration() for _ in range(5)), burst_size=5)
    r = checks.check_rate_limit(a)
    assert r.status is Status.WARNING
    assert "5 of 5" in r.message


def test_registration_checks_not_applicable_when_passive() -> None:
    for check in (checks.check_dangerous_redirects, checks.check_body_limit, checks.check_rate_limit):
        assert check(None).status is Status.NOT_APPLICABLE
