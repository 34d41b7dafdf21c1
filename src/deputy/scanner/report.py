"""Rendering a :class:`ScanReport`: a terminal table, JSON, and SARIF 2.1.0."""

from __future__ import annotations

import json
import textwrap
from typing import Final

from deputy import __version__
from deputy.scanner.catalog import CHECKS, info
from deputy.scanner.model import CheckResult, ScanReport, Status

__all__ = ["SARIF_SCHEMA", "render_json", "render_sarif", "render_table", "summary", "to_json"]

SARIF_SCHEMA: Final = "https://json.schemastore.org/sarif-2.1.0.json"
TOOL_NAME: Final = "deputy-scan"
_LABELS: Final = {
    Status.PASS: "PASS",
    Status.FAIL: "FAIL",
    Status.WARNING: "WARN",
    Status.NOT_APPLICABLE: "N/A",
}
_SARIF_LEVELS: Final = {Status.FAIL: "error", Status.WARNING: "warning"}
_WIDTH: Final = 110


def summary(report: ScanReport) -> dict[str, int]:
    counts = {s.value: 0 for s in Status}
    for r in report.results:
        counts[r.status.value] += 1
    return counts


def _wrap(text: str, indent: str) -> list[str]:
    return textwrap.wrap(text, _WIDTH, initial_indent=indent, subsequent_indent=indent + "  ") or [indent]


def render_table(report: ScanReport) -> str:
    """The human report: one row per check; evidence and the spec reference under failures and warnings."""
    mode = "active" if report.active else "passive"
    lines = [f"deputy scan {report.target}  ({mode}, {report.duration_seconds:.1f} s)", ""]
    width = max(len(c.check_id) for c in CHECKS)
    for r in report.results:
        meta = info(r.check_id)
        lines.append(f"{_LABELS[r.status]:<5} {r.check_id:<{width}}  {meta.title}")
        if r.message:
            lines += _wrap(r.message, " " * (width + 8))
        if r.status in (Status.FAIL, Status.WARNING):
            for ev in r.evidence[:6]:
                lines += _wrap(f"> {ev.request}", " " * (width + 8))
                lines += _wrap(f"< {ev.response}", " " * (width + 8))
            if len(r.evidence) > 6:
                lines.append(" " * (width + 8) + f"(+{len(r.evidence) - 6} more in --json)")
            lines += _wrap(f"spec: {meta.spec}", " " * (width + 8))
    counts = summary(report)
    lines += [
        "",
        f"{counts['pass']} pass, {counts['fail']} fail, {counts['warning']} warning, "
        f"{counts['not_applicable']} not applicable",
        "contacted: " + (", ".join(report.contacted) or "nothing"),
    ]
    if report.not_fetched:
        lines.append("recorded, not fetched (outside the target's hosts, or redirects):")
        lines += [f"  {url}" for url in report.not_fetched]
    lines += [f"note: {n}" for n in report.notes]
    return "\n".join(lines) + "\n"


def _result_json(r: CheckResult) -> dict[str, object]:
    meta = info(r.check_id)
    return {
        "id": r.check_id,
        "title": meta.title,
        "status": r.status.value,
        "message": r.message,
        "requirement": meta.requirement,
        "spec": meta.spec,
        "help_uri": meta.help_uri,
        "active": meta.active,
        "evidence": [{"request": e.request, "response": e.response} for e in r.evidence],
    }


def to_json(report: ScanReport) -> dict[str, object]:
    return {
        "tool": TOOL_NAME,
        "version": __version__,
        "target": report.target,
        "started_at": report.started_at,
        "duration_seconds": report.duration_seconds,
        "mode": "active" if report.active else "passive",
        "summary": summary(report),
        "failed": report.failed,
        "checks": [_result_json(r) for r in report.results],
        "contacted": list(report.contacted),
        "not_fetched": list(report.not_fetched),
        "notes": list(report.notes),
    }


def render_json(report: ScanReport) -> str:
    return json.dumps(to_json(report), indent=2) + "\n"


def _rule(index: int) -> dict[str, object]:
    meta = CHECKS[index]
    return {
        "id": meta.check_id,
        "name": meta.check_id.replace(".", "_"),
        "shortDescription": {"text": meta.title},
        "fullDescription": {"text": meta.requirement},
        "helpUri": meta.help_uri,
        "help": {"text": f"{meta.requirement} ({meta.spec})"},
        "properties": {"spec": meta.spec, "active": meta.active, "tags": ["security", "oauth", "mcp"]},
    }


def render_sarif(report: ScanReport) -> str:
    """SARIF 2.1.0: every rule in the catalog; one result per failing or warning check."""
    index = {c.check_id: i for i, c in enumerate(CHECKS)}
    results: list[dict[str, object]] = []
    for r in report.results:
        if r.status not in _SARIF_LEVELS:
            continue
        meta = info(r.check_id)
        evidence = "; ".join(f"{e.request} -> {e.response}" for e in r.evidence[:3])
        results.append(
            {
                "ruleId": r.check_id,
                "ruleIndex": index[r.check_id],
                "level": _SARIF_LEVELS[r.status],
                "message": {"text": f"{meta.title}: {r.message}" + (f" [evidence: {evidence}]" if evidence else "")},
                "locations": [
                    {"physicalLocation": {"artifactLocation": {"uri": report.target}}},
                ],
                "properties": {
                    "status": r.status.value,
                    "spec": meta.spec,
                    "helpUri": meta.help_uri,
                    "evidence": [{"request": e.request, "response": e.response} for e in r.evidence],
                },
            }
        )
    doc = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": TOOL_NAME,
                        "version": __version__,
                        "rules": [_rule(i) for i in range(len(CHECKS))],
                    }
                },
                "invocations": [
                    {
                        "executionSuccessful": True,
                        "startTimeUtc": report.started_at,
                        "properties": {"mode": "active" if report.active else "passive"},
                    }
                ],
                "results": results,
                "properties": {"target": report.target, "summary": summary(report)},
            }
        ],
    }
    return json.dumps(doc, indent=2) + "\n"
