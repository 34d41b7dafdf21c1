"""Resource-server checks on recorded responses: Origin, query-string token, foreign tokens."""

from __future__ import annotations

from scan_support import MCP, ex, good_discovery, good_probes, rs_response

from deputy.scanner.checks import resource
from deputy.scanner.model import ResourceProbes, Status


def test_origin_403_passes() -> None:
    assert resource.check_origin(good_discovery(), good_probes()).status is Status.PASS


def test_origin_served_fails() -> None:
    r = resource.check_origin(good_discovery(), good_probes(foreign_origin=rs_response(200)))
    assert r.status is Status.FAIL


def test_origin_401_instead_of_403_fails() -> None:
    r = resource.check_origin(good_discovery(), good_probes(foreign_origin=rs_response(401)))
    assert r.status is Status.FAIL
    assert "not 403" in r.message


def test_resource_checks_not_applicable_without_an_endpoint() -> None:
    d = good_discovery(baseline=ex(404, method="POST", url=MCP, body="Not Found"))
    for check in (resource.check_origin, resource.check_query_token, resource.check_invalid_token):
        assert check(d, ResourceProbes()).status is Status.NOT_APPLICABLE
    assert resource.check_upstream_token(d, ResourceProbes()).status is Status.NOT_APPLICABLE


def test_query_token_refused_passes() -> None:
    assert resource.check_query_token(good_discovery(), good_probes()).status is Status.PASS
    r = resource.check_query_token(good_discovery(), good_probes(query_token=rs_response(400)))
    assert r.status is Status.PASS


def test_query_token_accepted_fails() -> None:
    r = resource.check_query_token(good_discovery(), good_probes(query_token=rs_response(200)))
    assert r.status is Status.FAIL


def test_query_token_read_as_invalid_token_warns() -> None:
    r = resource.check_query_token(good_discovery(), good_probes(query_token=rs_response(401)))
    assert r.status is Status.WARNING


def test_invalid_token_pass_and_fail() -> None:
    assert resource.check_invalid_token(good_discovery(), good_probes()).status is Status.PASS
    r = resource.check_invalid_token(good_discovery(), good_probes(invalid_token=rs_response(200)))
    assert r.status is Status.FAIL


def test_invalid_token_unanswered_warns() -> None:
    probes = good_probes(invalid_token=ex(None, method="POST", url=MCP, error="ReadTimeout"))
    assert resource.check_invalid_token(good_discovery(), probes).status is Status.WARNING


def test_upstream_token_pass_fail_and_not_applicable() -> None:
    assert resource.check_upstream_token(good_discovery(), good_probes()).status is Status.PASS
    r = resource.check_upstream_token(good_discovery(), good_probes(upstream_token=rs_response(200)))
    assert r.status is Status.FAIL
    assert "passthrough" in r.message
    none = resource.check_upstream_token(good_discovery(), good_probes(upstream_token=None))
    assert none.status is Status.NOT_APPLICABLE
    assert "--upstream-token" in none.message
