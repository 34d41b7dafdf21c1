"""Deputy itself, run like ``deputy demo`` (tests/live.py): its authorization server passes the scanner."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from deputy.scanner.model import ScanReport, Status
from deputy.scanner.runner import ScanConfig, run_scan
from live import DemoServers, start_demo

AS_CHECKS = (
    "as.discovered",
    "as.issuer",
    "as.pkce_s256",
    "as.iss_parameter",
    "transport.https",
    "authz.consent",
    "authz.redirect_exact",
    "reg.redirect_uri_policy",
    "authz.pkce_required",
    "authz.pkce_plain",
    "authz.error_iss",
    "consent.headers",
    "consent.cookies",
    "consent.identifies_client",
    "reg.body_limit",
    "reg.rate_limit",
)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServers]:
    with start_demo(tmp_path_factory.mktemp("deputy-scan")) as servers:
        yield servers


@pytest.fixture(scope="module")
def deputy_report(demo: DemoServers) -> ScanReport:
    config = ScanConfig(demo.resource, active=True, upstream_token="acme-looking-token-0123456789", max_seconds=60)
    return run_scan(config, confirm=lambda _plan: True)


def test_deputy_authorization_server_checks_pass(deputy_report: ScanReport) -> None:
    failing = {
        r.check_id: (r.status.value, r.message) for r in deputy_report.results if r.check_id in AS_CHECKS
        if r.status is not Status.PASS
    }  # fmt: skip
    assert failing == {}
    # Deputy registers clients openly and does not (yet) support CIMD: reported, never a failure.
    assert deputy_report.result("as.dcr").status is Status.WARNING
    assert deputy_report.result("as.cimd").status in (Status.PASS, Status.WARNING)
    assert deputy_report.result("token.pkce_verifier").status is Status.NOT_APPLICABLE


def test_deputy_scan_contacts_only_deputy(deputy_report: ScanReport, demo: DemoServers) -> None:
    assert deputy_report.contacted == (demo.deputy_url.removeprefix("http://"),)
    assert demo.acme_url.removeprefix("http://") not in " ".join(deputy_report.not_fetched)


def test_deputy_demo_passes_every_check(deputy_report: ScanReport) -> None:
    failing = {r.check_id: r.message for r in deputy_report.results if r.status is Status.FAIL}
    assert failing == {}
    for check_id in ("rs.challenge", "prm.discovered", "prm.resource", "transport.origin", "rs.upstream_token"):
        assert deputy_report.result(check_id).status is Status.PASS, check_id
