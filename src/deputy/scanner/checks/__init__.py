"""Pure check logic: recorded observations in, :class:`CheckResult` out. No I/O anywhere under this package."""

from __future__ import annotations

from collections.abc import Callable

from deputy.scanner.catalog import CHECKS
from deputy.scanner.checks import authorize, consent, discovery, metadata, registration, resource
from deputy.scanner.model import ActiveObservations, CheckResult, Discovery, ResourceProbes

__all__ = ["evaluate"]


def evaluate(d: Discovery, probes: ResourceProbes, active: ActiveObservations | None) -> tuple[CheckResult, ...]:
    """Every check in catalog order. ``active`` is ``None`` for a passive scan (active checks are N/A)."""
    runners: dict[str, Callable[[], CheckResult]] = {
        "rs.challenge": lambda: discovery.check_challenge(d),
        "prm.discovered": lambda: discovery.check_prm_discovered(d),
        "prm.resource": lambda: discovery.check_prm_resource(d),
        "prm.authorization_servers": lambda: discovery.check_prm_authorization_servers(d),
        "as.discovered": lambda: discovery.check_as_discovered(d),
        "as.issuer": lambda: discovery.check_as_issuer(d),
        "as.pkce_s256": lambda: metadata.check_pkce_s256(d),
        "as.iss_parameter": lambda: metadata.check_iss_parameter(d),
        "as.cimd": lambda: metadata.check_cimd(d),
        "as.dcr": lambda: metadata.check_dcr(d, active),
        "transport.https": lambda: metadata.check_https(d),
        "transport.origin": lambda: resource.check_origin(d, probes),
        "rs.query_token": lambda: resource.check_query_token(d, probes),
        "rs.invalid_token": lambda: resource.check_invalid_token(d, probes),
        "rs.upstream_token": lambda: resource.check_upstream_token(d, probes),
        "rs.offline_access": lambda: metadata.check_offline_access(d),
        "authz.consent": lambda: authorize.check_consent(active),
        "authz.redirect_exact": lambda: authorize.check_redirect_exact(active),
        "reg.redirect_uri_policy": lambda: registration.check_dangerous_redirects(active),
        "authz.pkce_required": lambda: authorize.check_pkce_required(active),
        "authz.pkce_plain": lambda: authorize.check_pkce_plain(active),
        "authz.error_iss": lambda: authorize.check_error_iss(d, active),
        "token.pkce_verifier": lambda: authorize.check_wrong_verifier(active),
        "consent.headers": lambda: consent.check_consent_headers(active),
        "consent.cookies": lambda: consent.check_consent_cookies(active),
        "consent.identifies_client": lambda: consent.check_identifies_client(active),
        "reg.body_limit": lambda: registration.check_body_limit(active),
        "reg.rate_limit": lambda: registration.check_rate_limit(active),
    }
    if set(runners) != {c.check_id for c in CHECKS}:  # pragma: no cover - a catalog/evaluator mismatch is a bug
        raise RuntimeError("the check catalog and the evaluator disagree")
    return tuple(runners[c.check_id]() for c in CHECKS)
