"""Discovery checks on recorded responses: the 401 challenge, PRM and AS metadata."""

from __future__ import annotations

from scan_support import GOOD_AS, GOOD_PRM, MCP, ex, good_discovery

from deputy.scanner.checks import discovery
from deputy.scanner.model import Status


def test_challenge_passes_with_resource_metadata() -> None:
    assert discovery.check_challenge(good_discovery()).status is Status.PASS


def test_challenge_fails_when_not_401() -> None:
    d = good_discovery(baseline=ex(200, method="POST", url=MCP, body={"jsonrpc": "2.0"}))
    r = discovery.check_challenge(d)
    assert r.status is Status.FAIL
    assert "200" in r.message


def test_challenge_fails_without_bearer() -> None:
    d = good_discovery(baseline=ex(401, method="POST", url=MCP, headers=[("www-authenticate", 'Basic realm="x"')]))
    assert discovery.check_challenge(d).status is Status.FAIL


def test_challenge_without_resource_metadata_warns_if_well_known_works_else_fails() -> None:
    bare = ex(401, method="POST", url=MCP, headers=[("www-authenticate", 'Bearer realm="mcp"')])
    assert discovery.check_challenge(good_discovery(baseline=bare)).status is Status.WARNING
    assert discovery.check_challenge(good_discovery(baseline=bare, prm=None)).status is Status.FAIL


def test_challenge_unanswered_is_a_warning() -> None:
    d = good_discovery(baseline=ex(None, method="POST", url=MCP, error="ConnectTimeout"))
    assert discovery.check_challenge(d).status is Status.WARNING


def test_prm_discovered_pass_and_fail() -> None:
    assert discovery.check_prm_discovered(good_discovery()).status is Status.PASS
    r = discovery.check_prm_discovered(good_discovery(prm=None))
    assert r.status is Status.FAIL
    assert r.evidence, "the failed lookups are the evidence"


def test_prm_resource_exact_passes() -> None:
    assert discovery.check_prm_resource(good_discovery()).status is Status.PASS


def test_prm_resource_other_url_fails() -> None:
    d = good_discovery(prm={**GOOD_PRM, "resource": "https://mcp.example/other"})
    assert discovery.check_prm_resource(d).status is Status.FAIL


def test_prm_resource_equal_only_after_normalisation_warns() -> None:
    d = good_discovery(prm={**GOOD_PRM, "resource": "HTTPS://MCP.example/mcp/"})
    assert discovery.check_prm_resource(d).status is Status.WARNING


def test_prm_resource_not_applicable_without_prm() -> None:
    assert discovery.check_prm_resource(good_discovery(prm=None)).status is Status.NOT_APPLICABLE


def test_prm_authorization_servers_pass_and_fail() -> None:
    assert discovery.check_prm_authorization_servers(good_discovery()).status is Status.PASS
    for bad in ([], None, [""], "https://as.example"):
        d = good_discovery(prm={**GOOD_PRM, "authorization_servers": bad})
        assert discovery.check_prm_authorization_servers(d).status is Status.FAIL, bad


def test_as_discovered_pass_and_fail() -> None:
    assert discovery.check_as_discovered(good_discovery()).status is Status.PASS
    assert discovery.check_as_discovered(good_discovery(as_metadata=None)).status is Status.FAIL


def test_as_issuer_exact_pass_and_fail() -> None:
    assert discovery.check_as_issuer(good_discovery()).status is Status.PASS
    for other in ("https://mcp.example/", "https://MCP.example", "https://evil.example"):
        r = discovery.check_as_issuer(good_discovery(as_metadata={**GOOD_AS, "issuer": other}))
        assert r.status is Status.FAIL, other
