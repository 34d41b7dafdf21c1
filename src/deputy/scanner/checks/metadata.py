"""Checks on what the metadata advertises: PKCE methods, RFC 9207, CIMD, DCR, scopes and HTTPS."""

from __future__ import annotations

from deputy.scanner.checks.common import bearer_challenge, result
from deputy.scanner.evidence import describe
from deputy.scanner.model import ActiveObservations, CheckResult, Discovery, Evidence, Status
from deputy.scanner.redact import redact_url
from deputy.scanner.urls import is_secure_url

__all__ = [
    "check_cimd",
    "check_dcr",
    "check_https",
    "check_iss_parameter",
    "check_offline_access",
    "check_pkce_s256",
]


def _as_evidence(d: Discovery, *keys: str) -> Evidence:
    return describe(d.as_attempts[-1], json_keys=keys)


def check_pkce_s256(d: Discovery) -> CheckResult:
    cid = "as.pkce_s256"
    if d.as_metadata is None:
        return result(cid, Status.NOT_APPLICABLE, "no authorization server metadata")
    ev = _as_evidence(d, "code_challenge_methods_supported")
    methods = d.as_metadata.get("code_challenge_methods_supported")
    if not isinstance(methods, list):
        return result(
            cid, Status.FAIL, "code_challenge_methods_supported is absent: MCP clients must refuse to proceed", ev
        )
    if "plain" in methods:
        return result(cid, Status.FAIL, "plain is advertised (PKCE downgrade); advertise S256 only", ev)
    if "S256" not in methods:
        return result(cid, Status.FAIL, "S256 is not advertised", ev)
    return result(cid, Status.PASS, f"code_challenge_methods_supported = {methods}", ev)


def check_iss_parameter(d: Discovery) -> CheckResult:
    cid = "as.iss_parameter"
    if d.as_metadata is None:
        return result(cid, Status.NOT_APPLICABLE, "no authorization server metadata")
    ev = _as_evidence(d, "authorization_response_iss_parameter_supported")
    if d.as_metadata.get("authorization_response_iss_parameter_supported") is True:
        return result(cid, Status.PASS, "authorization_response_iss_parameter_supported is true", ev)
    return result(
        cid, Status.WARNING, "authorization_response_iss_parameter_supported is not true (mix-up defence)", ev
    )


def check_cimd(d: Discovery) -> CheckResult:
    cid = "as.cimd"
    if d.as_metadata is None:
        return result(cid, Status.NOT_APPLICABLE, "no authorization server metadata")
    ev = _as_evidence(d, "client_id_metadata_document_supported")
    if d.as_metadata.get("client_id_metadata_document_supported") is True:
        return result(cid, Status.PASS, "client_id_metadata_document_supported is true", ev)
    return result(cid, Status.WARNING, "Client ID Metadata Documents are not advertised (SHOULD)", ev)


def check_dcr(d: Discovery, active: ActiveObservations | None) -> CheckResult:
    cid = "as.dcr"
    if d.as_metadata is None:
        return result(cid, Status.NOT_APPLICABLE, "no authorization server metadata")
    endpoint = d.as_metadata.get("registration_endpoint")
    if not endpoint:
        return result(cid, Status.PASS, "no registration_endpoint advertised", _as_evidence(d, "registration_endpoint"))
    reg = active.registration if active else None
    if reg is None or not reg.answered:
        return result(
            cid,
            Status.WARNING,
            "registration_endpoint is advertised; anyone may be able to register clients (verify with --active)",
            _as_evidence(d, "registration_endpoint"),
        )
    ev = describe(reg, json_keys=("client_id", "client_name", "redirect_uris"))
    status = reg.status or 0
    if 200 <= status < 300:
        return result(
            cid,
            Status.WARNING,
            "open: an anonymous registration was accepted; safe only with per-client consent (authz.consent), "
            "exact redirect matching and limits (reg.*)",
            ev,
        )
    if status in (401, 403):
        return result(cid, Status.PASS, f"registration requires authorization ({status})", ev)
    return result(cid, Status.WARNING, f"the scanner's registration was answered {status}", ev)


def check_offline_access(d: Discovery) -> CheckResult:
    cid = "rs.offline_access"
    challenge = bearer_challenge(d.baseline) if d.baseline.status == 401 else None
    if d.prm is None and challenge is None:
        return result(cid, Status.NOT_APPLICABLE, "neither PRM nor a Bearer challenge to inspect")
    evidence: list[Evidence] = []
    where: list[str] = []
    scopes = d.prm.get("scopes_supported") if d.prm is not None else None
    if d.prm is not None:
        evidence.append(describe(d.prm_attempts[-1], json_keys=("scopes_supported",)))
        if isinstance(scopes, list) and "offline_access" in scopes:
            where.append("PRM scopes_supported")
    if challenge is not None:
        evidence.append(describe(d.baseline, headers=("www-authenticate",)))
        if "offline_access" in (challenge.param("scope") or "").split():
            where.append("the challenge's scope")
    if where:
        return result(cid, Status.WARNING, "offline_access is listed in " + " and ".join(where), *evidence)
    return result(cid, Status.PASS, "offline_access is not advertised", *evidence)


def _advertised_urls(d: Discovery) -> list[tuple[str, str]]:
    urls: list[tuple[str, str]] = [("MCP URL", d.mcp_url)]
    challenge = bearer_challenge(d.baseline) if d.baseline.status == 401 else None
    if challenge is not None and challenge.param("resource_metadata"):
        urls.append(("resource_metadata", challenge.param("resource_metadata") or ""))
    if d.prm is not None:
        servers = d.prm.get("authorization_servers")
        if isinstance(servers, list):
            urls += [("authorization_servers", s) for s in servers if isinstance(s, str)]
    if d.as_metadata is not None:
        for key, value in sorted(d.as_metadata.items()):
            if isinstance(value, str) and (key == "issuer" or key.endswith(("_endpoint", "_uri"))):
                urls.append((key, value))
    return urls


def check_https(d: Discovery) -> CheckResult:
    cid = "transport.https"
    insecure = [(k, v) for k, v in _advertised_urls(d) if not is_secure_url(v)]
    if not insecure:
        return result(cid, Status.PASS, "every URL is https or loopback http")
    evidence = tuple(Evidence(f"advertised {k}", redact_url(v)) for k, v in insecure)
    names = ", ".join(sorted({k for k, _ in insecure}))
    return result(cid, Status.FAIL, f"not https (and not loopback): {names}", *evidence)
