"""Authorization-endpoint checks on recorded responses: consent, exact redirects, PKCE, iss, wrong verifier."""

from __future__ import annotations

from scan_support import (
    ISSUER,
    LISTENER,
    REMOTE,
    UPSTREAM,
    error_redirect,
    ex,
    good_active,
    good_discovery,
    page,
    redirect,
    refused,
    trip,
)

from deputy.scanner.checks import authorize
from deputy.scanner.model import Status, TripProbe


def test_consent_page_passes() -> None:
    assert authorize.check_consent(good_active()).status is Status.PASS


def test_straight_upstream_redirect_is_the_confused_deputy() -> None:
    a = good_active(authorize=trip(redirect(UPSTREAM), left_to=UPSTREAM))
    r = authorize.check_consent(a)
    assert r.status is Status.FAIL
    assert "confused deputy" in r.message
    assert "upstream.example" in r.message


def test_code_without_interaction_fails() -> None:
    a = good_active(authorize=trip(redirect(f"{LISTENER}?code=abc&state=s1")))
    assert authorize.check_consent(a).status is Status.FAIL


def test_consent_after_an_on_host_hop_passes() -> None:
    a = good_active(authorize=trip(redirect(f"{ISSUER}/login?next=x"), page()))
    assert authorize.check_consent(a).status is Status.PASS


def test_consent_not_applicable_when_refused_or_not_active() -> None:
    assert authorize.check_consent(good_active(authorize=refused())).status is Status.NOT_APPLICABLE
    assert authorize.check_consent(None).status is Status.NOT_APPLICABLE
    assert authorize.check_consent(good_active(client_id=None)).status is Status.NOT_APPLICABLE


def test_redirect_variants_refused_pass() -> None:
    assert authorize.check_redirect_exact(good_active()).status is Status.PASS


def test_redirect_to_the_variant_fails() -> None:
    variant = LISTENER + "/evil"
    probe = TripProbe("extra-path", variant, trip(redirect(f"{variant}?code=x"), left_to=None))
    r = authorize.check_redirect_exact(good_active(variants=(probe,)))
    assert r.status is Status.FAIL
    assert "extra-path" in r.message


def test_variant_accepted_into_the_upstream_fails() -> None:
    probe = TripProbe("extra-query", LISTENER + "?x=1", trip(redirect(UPSTREAM), left_to=UPSTREAM))
    assert authorize.check_redirect_exact(good_active(variants=(probe,))).status is Status.FAIL


def test_variant_showing_the_consent_page_fails() -> None:
    probe = TripProbe("case", LISTENER.upper(), trip(page()))
    assert authorize.check_redirect_exact(good_active(variants=(probe,))).status is Status.FAIL


def test_variant_error_redirect_to_the_registered_uri_passes() -> None:
    probe = TripProbe("port (https URI)", REMOTE.replace(".invalid", ".invalid:8443"), error_redirect())
    assert authorize.check_redirect_exact(good_active(variants=(probe,))).status is Status.PASS


def test_pkce_required_pass_and_fail() -> None:
    assert authorize.check_pkce_required(good_active()).status is Status.PASS
    shown = authorize.check_pkce_required(good_active(pkce_missing=trip(page())))
    assert shown.status is Status.FAIL
    upstream = authorize.check_pkce_required(good_active(pkce_missing=trip(redirect(UPSTREAM), left_to=UPSTREAM)))
    assert upstream.status is Status.FAIL


def test_pkce_plain_pass_and_fail() -> None:
    assert authorize.check_pkce_plain(good_active()).status is Status.PASS
    r = authorize.check_pkce_plain(good_active(pkce_plain=trip(redirect(f"{LISTENER}?code=c1"))))
    assert r.status is Status.FAIL


def test_error_iss_pass() -> None:
    assert authorize.check_error_iss(good_discovery(), good_active()).status is Status.PASS


def test_error_iss_missing_when_advertised_fails() -> None:
    r = authorize.check_error_iss(good_discovery(), good_active(pkce_missing=error_redirect(iss=None)))
    assert r.status is Status.FAIL


def test_error_iss_wrong_issuer_fails() -> None:
    a = good_active(pkce_missing=error_redirect(iss="https://evil.example"))
    assert authorize.check_error_iss(good_discovery(), a).status is Status.FAIL


def test_error_iss_not_applicable_without_error_redirects() -> None:
    a = good_active(pkce_missing=refused(), pkce_plain=refused())
    assert authorize.check_error_iss(good_discovery(), a).status is Status.NOT_APPLICABLE


def test_wrong_verifier_not_applicable_without_a_code() -> None:
    assert authorize.check_wrong_verifier(good_active()).status is Status.NOT_APPLICABLE


def test_wrong_verifier_pass_and_fail() -> None:
    invalid = ex(400, method="POST", url=f"{ISSUER}/token", body={"error": "invalid_grant"})
    assert authorize.check_wrong_verifier(good_active(token_wrong_verifier=invalid)).status is Status.PASS
    issued = ex(200, method="POST", url=f"{ISSUER}/token", body={"access_token": "at-123456", "token_type": "Bearer"})
    r = authorize.check_wrong_verifier(good_active(token_wrong_verifier=issued))
    assert r.status is Status.FAIL
    assert "at-123456" not in repr(r)
