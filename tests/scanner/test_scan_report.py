"""Rendering: SARIF 2.1.0 structure, JSON, the terminal table, and the check catalog."""

from __future__ import annotations

import json

from scan_support import GOOD_AS, UPSTREAM, good_active, good_discovery, good_probes, redirect, rs_response, trip

from deputy.scanner.catalog import CHECKS
from deputy.scanner.checks import evaluate
from deputy.scanner.model import ScanReport, Status
from deputy.scanner.report import render_json, render_sarif, render_table


def _report(*, failing: bool) -> ScanReport:
    if failing:
        d = good_discovery(as_metadata={**GOOD_AS, "code_challenge_methods_supported": ["plain", "S256"]})
        probes = good_probes(upstream_token=rs_response(200))
        active = good_active(authorize=trip(redirect(UPSTREAM, cookies=["f=SECRETCOOKIE"]), left_to=UPSTREAM))
    else:
        d, probes, active = good_discovery(), good_probes(), good_active()
    results = evaluate(d, probes, active)
    return ScanReport("https://mcp.example/mcp", "2026-01-01T00:00:00Z", 1.5, True, results, ("mcp.example:443",))


def test_catalog_ids_are_unique_and_evaluated_in_order() -> None:
    ids = [c.check_id for c in CHECKS]
    assert len(ids) == len(set(ids))
    assert [r.check_id for r in evaluate(good_discovery(), good_probes(), None)] == ids
    for c in CHECKS:
        assert c.help_uri.startswith("https://") and c.spec and c.requirement


def test_passive_scan_marks_active_checks_not_applicable() -> None:
    results = evaluate(good_discovery(), good_probes(), None)
    active_ids = {c.check_id for c in CHECKS if c.active}
    assert all(r.status is Status.NOT_APPLICABLE for r in results if r.check_id in active_ids)


def test_sarif_structure() -> None:
    report = _report(failing=True)
    doc = json.loads(render_sarif(report))
    assert doc["version"] == "2.1.0"
    assert doc["$schema"].endswith("sarif-2.1.0.json")
    (run,) = doc["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "deputy-scan" and driver["version"]
    rules = driver["rules"]
    assert [r["id"] for r in rules] == [c.check_id for c in CHECKS]
    for rule in rules:
        assert rule["helpUri"].startswith("https://")
        assert rule["shortDescription"]["text"] and rule["properties"]["spec"]
    flagged = {r.check_id: r.status for r in report.results if r.status in (Status.FAIL, Status.WARNING)}
    assert {res["ruleId"] for res in run["results"]} == set(flagged)
    for res in run["results"]:
        assert rules[res["ruleIndex"]]["id"] == res["ruleId"]
        assert res["level"] == ("error" if flagged[res["ruleId"]] is Status.FAIL else "warning")
        assert res["message"]["text"]
        assert res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == report.target
        assert res["properties"]["helpUri"].startswith("https://") and res["properties"]["spec"]
    assert {"as.pkce_s256", "rs.upstream_token", "authz.consent", "consent.cookies"} <= set(flagged)
    assert "SECRETCOOKIE" not in json.dumps(doc)


def test_sarif_of_a_clean_report_has_no_error_results() -> None:
    doc = json.loads(render_sarif(_report(failing=False)))
    assert all(r["level"] == "warning" for r in doc["runs"][0]["results"])


def test_json_report() -> None:
    doc = json.loads(render_json(_report(failing=True)))
    assert doc["failed"] is True
    assert doc["mode"] == "active"
    assert sum(doc["summary"].values()) == len(CHECKS)
    check = next(c for c in doc["checks"] if c["id"] == "authz.consent")
    assert check["status"] == "fail"
    assert check["evidence"][0]["request"].startswith("GET https://mcp.example/authorize")
    assert "Location: https://upstream.example" in check["evidence"][0]["response"]
    assert check["spec"] and check["help_uri"]


def test_table() -> None:
    table = render_table(_report(failing=True))
    assert "FAIL  authz.consent" in table
    assert "spec: " in table
    assert "contacted: mcp.example:443" in table
    assert "fail," in table.splitlines()[-2]
