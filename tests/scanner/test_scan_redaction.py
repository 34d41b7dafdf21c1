"""No secret reaches the report: URLs, headers, JSON, free text, and the final scrub of known values."""

from __future__ import annotations

import json

from scan_support import ex

from deputy.scanner.evidence import describe
from deputy.scanner.redact import REDACTED, redact_header, redact_json, redact_text, redact_url, scrub


def test_url_query_fragment_and_password() -> None:
    url = "https://u:pw@h.example/cb?code=SECRETCODE&state=s1&access_token=TOK#id_token=IDT&x=1"
    shown = redact_url(url)
    for secret in ("SECRETCODE", "TOK", "IDT", ":pw@"):
        assert secret not in shown
    assert "state=s1" in shown
    assert "x=1" in shown


def test_headers() -> None:
    assert redact_header("Authorization", "Bearer abc.def.ghi") == f"Bearer {REDACTED}"
    assert redact_header("Cookie", "a=1; b=2") == f"a={REDACTED}; b={REDACTED}"
    assert redact_header("Set-Cookie", "sid=xyz; Path=/; Secure") == f"sid={REDACTED}; Path=/; Secure"
    assert "THECODE" not in redact_header("Location", "https://c.example/cb?code=THECODE")


def test_www_authenticate_challenge_is_kept_readable() -> None:
    value = 'Bearer resource_metadata="https://x/.well-known/oauth-protected-resource", scope="a"'
    assert redact_header("WWW-Authenticate", value) == value


def test_json_and_text() -> None:
    doc = {"client_id": "c", "client_secret": "S3CR3T", "nested": [{"refresh_token": "RT"}]}
    assert "S3CR3T" not in json.dumps(redact_json(doc))
    assert "RT" not in json.dumps(redact_json(doc))
    text = '{"access_token": "AT1234", "x": 1} code=C0DE Bearer XYZ eyJhbGciOi.eyJzdWIiOiJ4In0.c2ln'
    shown = redact_text(text)
    for secret in ("AT1234", "C0DE", "XYZ", "eyJhbGciOi"):
        assert secret not in shown


def test_scrub_removes_known_values_raw_and_encoded() -> None:
    assert scrub("token a+b/c= and a%2Bb%2Fc%3D", ["a+b/c="]) == f"token {REDACTED} and {REDACTED}"
    assert scrub("short abc", ["abc"]) == "short abc", "very short values are not scrubbed (false positives)"


def test_evidence_never_shows_secrets() -> None:
    x = ex(
        302,
        method="POST",
        url="https://as.example/token?code=C0DE-VALUE",
        headers=[("location", "https://c.example/cb?code=C0DE-VALUE"), ("set-cookie", "sid=COOKIE-VALUE; Secure")],
        body={"access_token": "AT-VALUE", "error": "none"},
        request_headers=[("Authorization", "Bearer UPSTREAM-VALUE")],
    )
    ev = describe(x, headers=("location", "set-cookie"), json_keys=("access_token", "error"), body=True)
    shown = ev.request + ev.response
    for secret in ("C0DE-VALUE", "COOKIE-VALUE", "AT-VALUE", "UPSTREAM-VALUE"):
        assert secret not in shown
    assert "error" in shown
