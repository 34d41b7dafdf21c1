"""Metadata checks on recorded responses: PKCE methods, RFC 9207, CIMD, DCR, offline_access, HTTPS."""

from __future__ import annotations

from scan_support import GOOD_AS, GOOD_PRM, MCP, PRM_URL, ex, good_active, good_discovery, registration

from deputy.scanner.checks import metadata
from deputy.scanner.model import Status


def test_pkce_s256_only_passes() -> None:
    assert metadata.check_pkce_s256(good_discovery()).status is Status.PASS


def test_pkce_plain_advertised_fails() -> None:
    d = good_discovery(as_metadata={**GOOD_AS, "code_challenge_methods_supported": ["plain", "S256"]})
    r = metadata.check_pkce_s256(d)
    assert r.status is Status.FAIL
    assert "plain" in r.message


def test_pkce_absent_or_without_s256_fails() -> None:
    absent = {k: v for k, v in GOOD_AS.items() if k != "code_challenge_methods_supported"}
    assert metadata.check_pkce_s256(good_discovery(as_metadata=absent)).status is Status.FAIL
    other = {**GOOD_AS, "code_challenge_methods_supported": ["S512"]}
    assert metadata.check_pkce_s256(good_discovery(as_metadata=other)).status is Status.FAIL


def test_iss_parameter_pass_and_warning() -> None:
    assert metadata.check_iss_parameter(good_discovery()).status is Status.PASS
    d = good_discovery(as_metadata={**GOOD_AS, "authorization_response_iss_parameter_supported": False})
    assert metadata.check_iss_parameter(d).status is Status.WARNING


def test_cimd_pass_and_warning() -> None:
    assert metadata.check_cimd(good_discovery()).status is Status.PASS
    absent = {k: v for k, v in GOOD_AS.items() if k != "client_id_metadata_document_supported"}
    r = metadata.check_cimd(good_discovery(as_metadata=absent))
    assert r.status is Status.WARNING
    assert "absent: client_id_metadata_document_supported" in r.evidence[0].response


def test_dcr_not_advertised_passes() -> None:
    closed = {k: v for k, v in GOOD_AS.items() if k != "registration_endpoint"}
    assert metadata.check_dcr(good_discovery(as_metadata=closed), None).status is Status.PASS


def test_dcr_advertised_warns_and_open_registration_warns() -> None:
    assert metadata.check_dcr(good_discovery(), None).status is Status.WARNING
    r = metadata.check_dcr(good_discovery(), good_active())
    assert r.status is Status.WARNING
    assert "open" in r.message


def test_dcr_requiring_authorization_passes() -> None:
    a = good_active(registration=registration(401, error="invalid_token"), client_id=None)
    assert metadata.check_dcr(good_discovery(), a).status is Status.PASS


def test_offline_access_absent_passes() -> None:
    assert metadata.check_offline_access(good_discovery()).status is Status.PASS


def test_offline_access_in_prm_or_challenge_warns() -> None:
    d = good_discovery(prm={**GOOD_PRM, "scopes_supported": ["mcp.read", "offline_access"]})
    assert metadata.check_offline_access(d).status is Status.WARNING
    challenge = f'Bearer resource_metadata="{PRM_URL}", scope="mcp.read offline_access"'
    d = good_discovery(baseline=ex(401, method="POST", url=MCP, headers=[("www-authenticate", challenge)]))
    r = metadata.check_offline_access(d)
    assert r.status is Status.WARNING
    assert "challenge" in r.message


def test_https_everywhere_passes_and_loopback_http_passes() -> None:
    assert metadata.check_https(good_discovery()).status is Status.PASS
    loopback = {**GOOD_AS, "issuer": "http://127.0.0.1:8000", "token_endpoint": "http://localhost:8000/token"}
    d = good_discovery(as_metadata=loopback, issuer="http://127.0.0.1:8000")
    assert metadata.check_https(d).status is Status.PASS


def test_http_endpoint_on_a_public_host_fails() -> None:
    d = good_discovery(as_metadata={**GOOD_AS, "token_endpoint": "http://mcp.example/token"})
    r = metadata.check_https(d)
    assert r.status is Status.FAIL
    assert "token_endpoint" in r.message


def test_http_mcp_url_fails() -> None:
    d = good_discovery(mcp_url="http://mcp.example/mcp")
    assert metadata.check_https(d).status is Status.FAIL
