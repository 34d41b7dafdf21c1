"""The deliberately vulnerable proxy (vulnerable_server.py): every flaw is reported, each in its own test."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from scan_support import UPSTREAM_TOKEN, VulnerableWorld, run_cli

from deputy.scanner.model import ScanReport, Status


def _status(report: ScanReport, check_id: str) -> Status:
    return report.result(check_id).status


def test_open_registration_without_a_size_limit_fails(vulnerable_report: ScanReport) -> None:
    assert _status(vulnerable_report, "reg.body_limit") is Status.FAIL
    assert _status(vulnerable_report, "as.dcr") is Status.WARNING


def test_open_registration_without_a_rate_limit_warns(vulnerable_report: ScanReport) -> None:
    r = vulnerable_report.result("reg.rate_limit")
    assert r.status is Status.WARNING
    assert "10 of 10" in r.message


def test_dangerous_redirect_uris_registered_fail(vulnerable_report: ScanReport) -> None:
    r = vulnerable_report.result("reg.redirect_uri_policy")
    assert r.status is Status.FAIL
    for label in ("javascript", "data", "http-non-loopback", "fragment"):
        assert label in r.message


def test_no_consent_straight_upstream_is_the_confused_deputy(
    vulnerable_report: ScanReport, vulnerable: VulnerableWorld
) -> None:
    r = vulnerable_report.result("authz.consent")
    assert r.status is Status.FAIL
    assert "confused deputy" in r.message
    assert any("proxy-static-client-id" in e.response for e in r.evidence), "the upstream Location is the evidence"


def test_prefix_redirect_uri_matching_fails(vulnerable_report: ScanReport) -> None:
    r = vulnerable_report.result("authz.redirect_exact")
    assert r.status is Status.FAIL
    for label in ("trailing-slash", "extra-path", "extra-query"):
        assert label in r.message
    assert "userinfo" not in r.message.split(":", 1)[1], "variants that are not prefixes are refused even here"


def test_plain_pkce_advertised_fails(vulnerable_report: ScanReport) -> None:
    r = vulnerable_report.result("as.pkce_s256")
    assert r.status is Status.FAIL
    assert "plain" in r.message


def test_plain_pkce_accepted_fails(vulnerable_report: ScanReport) -> None:
    assert _status(vulnerable_report, "authz.pkce_plain") is Status.FAIL


def test_missing_pkce_accepted_fails(vulnerable_report: ScanReport) -> None:
    assert _status(vulnerable_report, "authz.pkce_required") is Status.FAIL


def test_token_passthrough_fails(vulnerable_report: ScanReport) -> None:
    r = vulnerable_report.result("rs.upstream_token")
    assert r.status is Status.FAIL
    assert "passthrough" in r.message
    assert all(UPSTREAM_TOKEN not in e.request + e.response for e in r.evidence)


def test_any_bearer_token_accepted_fails(vulnerable_report: ScanReport) -> None:
    assert _status(vulnerable_report, "rs.invalid_token") is Status.FAIL


def test_missing_cookie_attributes_fail(vulnerable_report: ScanReport) -> None:
    r = vulnerable_report.result("consent.cookies")
    assert r.status is Status.FAIL
    assert "proxy_flow: no __Host- prefix, not Secure, not HttpOnly" in r.message


def test_no_origin_validation_fails(vulnerable_report: ScanReport) -> None:
    assert _status(vulnerable_report, "transport.origin") is Status.FAIL


def test_token_in_query_string_accepted_fails(vulnerable_report: ScanReport) -> None:
    assert _status(vulnerable_report, "rs.query_token") is Status.FAIL


def test_correct_metadata_is_still_recognised(vulnerable_report: ScanReport) -> None:
    for check_id in ("rs.challenge", "prm.discovered", "prm.resource", "as.issuer", "as.iss_parameter", "as.cimd"):
        assert _status(vulnerable_report, check_id) is Status.PASS, check_id


def test_upstream_redirect_is_recorded_and_never_fetched(
    vulnerable_report: ScanReport, vulnerable: VulnerableWorld
) -> None:
    assert vulnerable.recorder.requests == []
    assert any(url.startswith(vulnerable.upstream_authorize) for url in vulnerable_report.not_fetched)
    assert vulnerable_report.contacted == (vulnerable.base_url.removeprefix("http://"),)


@pytest.mark.parametrize("output", ["table", "json"])
def test_outputs_never_contain_the_upstream_token(
    output: str, vulnerable: VulnerableWorld, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sarif = tmp_path / "scan.sarif"
    argv = [vulnerable.mcp_url, "--upstream-token", UPSTREAM_TOKEN, "--sarif", str(sarif), "--burst", "0"]
    code = run_cli([*argv, "--active", "--yes", *(["--json"] if output == "json" else [])])
    out, err = capsys.readouterr()
    assert code == 1
    assert UPSTREAM_TOKEN not in out + err + sarif.read_text()
    if output == "json":
        doc = json.loads(out)
        assert doc["failed"] is True
    else:
        assert "FAIL  authz.consent" in out
    assert vulnerable.recorder.requests == []
