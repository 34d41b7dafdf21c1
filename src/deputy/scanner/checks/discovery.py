"""Discovery checks: the 401 challenge, Protected Resource Metadata (RFC 9728), AS metadata (RFC 8414)."""

from __future__ import annotations

from deputy.scanner.checks.common import bearer_challenge, result, unanswered
from deputy.scanner.evidence import describe
from deputy.scanner.model import CheckResult, Discovery, Status
from deputy.scanner.urls import canonical_url

__all__ = [
    "check_as_discovered",
    "check_as_issuer",
    "check_challenge",
    "check_prm_authorization_servers",
    "check_prm_discovered",
    "check_prm_resource",
]

_PRM_KEYS = ("resource", "authorization_servers", "scopes_supported")


def check_challenge(d: Discovery) -> CheckResult:
    cid = "rs.challenge"
    b = d.baseline
    if not b.answered:
        return unanswered(cid, b, "the unauthenticated request")
    ev = describe(b, headers=("www-authenticate", "location"))
    if b.status != 401:
        return result(cid, Status.FAIL, f"an unauthenticated MCP request was answered {b.status}, not 401", ev)
    challenge = bearer_challenge(b)
    if challenge is None:
        return result(cid, Status.FAIL, "401 without a Bearer challenge in WWW-Authenticate", ev)
    if not challenge.param("resource_metadata"):
        if d.prm is not None:
            return result(
                cid,
                Status.WARNING,
                "the Bearer challenge has no resource_metadata; clients must fall back to the well-known URI",
                ev,
            )
        return result(cid, Status.FAIL, "no resource_metadata in the challenge and no well-known PRM either", ev)
    return result(cid, Status.PASS, "401 with a Bearer challenge naming resource_metadata", ev)


def check_prm_discovered(d: Discovery) -> CheckResult:
    cid = "prm.discovered"
    evidence = tuple(describe(x, headers=("content-type", "location")) for x in d.prm_attempts)
    if d.prm is None:
        return result(
            cid, Status.FAIL, "no protected resource metadata at the challenge URL or well-known URIs", *evidence
        )
    return result(cid, Status.PASS, f"found via the {d.prm_source} location {d.prm_url}", *evidence[-1:])


def check_prm_resource(d: Discovery) -> CheckResult:
    cid = "prm.resource"
    if d.prm is None:
        return result(cid, Status.NOT_APPLICABLE, "no protected resource metadata")
    ev = describe(d.prm_attempts[-1], json_keys=_PRM_KEYS)
    resource = d.prm.get("resource")
    expected = canonical_url(d.mcp_url)
    if not isinstance(resource, str) or not resource:
        return result(cid, Status.FAIL, "resource is missing", ev)
    if resource in (expected, d.mcp_url):
        return result(cid, Status.PASS, f"resource is {resource}", ev)
    if canonical_url(resource) == expected:
        return result(
            cid,
            Status.WARNING,
            f"resource {resource!r} matches {expected!r} only after normalisation; strict clients reject it",
            ev,
        )
    return result(cid, Status.FAIL, f"resource {resource!r} is not the MCP URL {expected!r}", ev)


def check_prm_authorization_servers(d: Discovery) -> CheckResult:
    cid = "prm.authorization_servers"
    if d.prm is None:
        return result(cid, Status.NOT_APPLICABLE, "no protected resource metadata")
    ev = describe(d.prm_attempts[-1], json_keys=_PRM_KEYS)
    servers = d.prm.get("authorization_servers")
    if not isinstance(servers, list) or not servers or not all(isinstance(s, str) and s for s in servers):
        return result(cid, Status.FAIL, "authorization_servers is missing or not a non-empty list of URLs", ev)
    return result(cid, Status.PASS, f"authorization_servers[0] = {servers[0]}", ev)


def check_as_discovered(d: Discovery) -> CheckResult:
    cid = "as.discovered"
    evidence = tuple(describe(x, headers=("content-type", "location")) for x in d.as_attempts)
    if d.issuer is None:
        return result(cid, Status.NOT_APPLICABLE, "no authorization server to look up")
    if d.as_metadata is None:
        return result(cid, Status.FAIL, f"no RFC 8414 or OpenID Connect metadata for issuer {d.issuer}", *evidence)
    how = (
        "named by the PRM"
        if d.issuer_source == "prm"
        else "assumed at the MCP URL's origin (2025-03-26 fallback: no usable PRM)"
    )
    return result(cid, Status.PASS, f"metadata at {d.as_url} for issuer {d.issuer} ({how})", *evidence[-1:])


def check_as_issuer(d: Discovery) -> CheckResult:
    cid = "as.issuer"
    if d.as_metadata is None or not d.as_attempts:
        return result(cid, Status.NOT_APPLICABLE, "no authorization server metadata")
    ev = describe(d.as_attempts[-1], json_keys=("issuer",))
    issuer = d.as_metadata.get("issuer")
    if issuer == d.issuer:
        return result(cid, Status.PASS, f"issuer is exactly {d.issuer}", ev)
    return result(cid, Status.FAIL, f"issuer {issuer!r} is not the discovery issuer {d.issuer!r}", ev)
