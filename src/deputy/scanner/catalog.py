"""Every check the scanner runs: id, title, the requirement it tests and where that requirement is written.

Ids are stable (SARIF ``ruleId``, ``--checklist``, tests); the order here is the order of the report.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = ["CHECKS", "CheckInfo", "info"]

_MCP: Final = "https://modelcontextprotocol.io/specification/2026-07-28"
_AUTHZ: Final = f"{_MCP}/basic/authorization"
_DISCOVERY: Final = f"{_AUTHZ}/authorization-server-discovery"
_REGISTRATION: Final = f"{_AUTHZ}/client-registration"
_SECURITY: Final = f"{_AUTHZ}/security-considerations"
_TRANSPORT: Final = f"{_MCP}/basic/transports/streamable-http"
_SBP: Final = "https://modelcontextprotocol.io/docs/tutorials/security/security_best_practices"


def _rfc(number: int, section: str) -> str:
    return f"https://www.rfc-editor.org/rfc/rfc{number}#section-{section}"


@dataclass(frozen=True)
class CheckInfo:
    check_id: str
    title: str
    requirement: str
    spec: str
    help_uri: str
    active: bool = False


CHECKS: Final[tuple[CheckInfo, ...]] = (
    CheckInfo(
        "rs.challenge",
        "401 challenge names the resource metadata",
        'An unauthenticated request gets 401 with WWW-Authenticate: Bearer resource_metadata="…".',
        "RFC 9728 §5.1; MCP authorization-server-discovery (Protected Resource Metadata Discovery)",
        _rfc(9728, "5.1"),
    ),
    CheckInfo(
        "prm.discovered",
        "Protected resource metadata is published",
        "RFC 9728 metadata is reachable from the challenge or the well-known URI (path-inserted, then root).",
        "RFC 9728 §3; MCP authorization-server-discovery",
        _rfc(9728, "3"),
    ),
    CheckInfo(
        "prm.resource",
        "PRM resource equals the MCP URL",
        "The metadata's resource is exactly the canonical MCP server URL the client used.",
        "RFC 9728 §3.3; MCP authorization (Canonical Server URI)",
        _rfc(9728, "3.3"),
    ),
    CheckInfo(
        "prm.authorization_servers",
        "PRM names an authorization server",
        "authorization_servers is present with at least one issuer URL.",
        "RFC 9728 §2; MCP authorization-server-discovery (Authorization Server Location)",
        _rfc(9728, "2"),
    ),
    CheckInfo(
        "as.discovered",
        "Authorization server metadata is published",
        "RFC 8414 metadata (path-inserted well-known, then OpenID Connect discovery) is reachable.",
        "RFC 8414 §3; MCP authorization-server-discovery",
        _rfc(8414, "3"),
    ),
    CheckInfo(
        "as.issuer",
        "AS issuer is exact",
        "The metadata's issuer is identical to the issuer the metadata URL was built from.",
        "RFC 8414 §3.3; MCP authorization-server-discovery",
        _rfc(8414, "3.3"),
    ),
    CheckInfo(
        "as.pkce_s256",
        "PKCE S256 advertised, plain absent",
        "code_challenge_methods_supported contains S256 and not plain.",
        "RFC 7636 §4.2; OAuth 2.1 §4.1.1; MCP security-considerations (Authorization Code Protection)",
        _SECURITY,
    ),
    CheckInfo(
        "as.iss_parameter",
        "RFC 9207 iss in authorization responses",
        "authorization_response_iss_parameter_supported is true.",
        "RFC 9207 §3; MCP authorization (Authorization Response Validation)",
        _rfc(9207, "3"),
    ),
    CheckInfo(
        "as.cimd",
        "Client ID Metadata Documents supported",
        "client_id_metadata_document_supported is true (SHOULD; DCR is deprecated in 2026-07-28).",
        "MCP client-registration (Client ID Metadata Documents)",
        _REGISTRATION,
    ),
    CheckInfo(
        "as.dcr",
        "Dynamic client registration exposure",
        "Open DCR lets anyone register a redirect URI (confused-deputy condition 2): only safe with per-client "
        "consent, exact redirect matching and registration limits.",
        "RFC 7591; MCP client-registration (DCR, deprecated); MCP security best practices (Confused Deputy)",
        _SBP,
    ),
    CheckInfo(
        "transport.https",
        "HTTPS everywhere except loopback",
        "The MCP URL and every advertised endpoint use https (http only for loopback hosts).",
        "MCP security-considerations (Communication Security); OAuth 2.1 §1.5",
        _SECURITY,
    ),
    CheckInfo(
        "transport.origin",
        "Foreign Origin refused with 403",
        "A request carrying an Origin the server does not serve is answered 403.",
        "MCP transports (Streamable HTTP, Security Warning: validate Origin)",
        _TRANSPORT,
    ),
    CheckInfo(
        "rs.query_token",
        "Access token in the query string refused",
        "?access_token=… is not accepted as a credential (tokens only in the Authorization header).",
        "MCP authorization (Token Requirements); RFC 9700 §2.2; OAuth 2.1 §5.2",
        _rfc(9700, "2.2"),
    ),
    CheckInfo(
        "rs.invalid_token",
        "Unknown bearer token refused",
        "A bearer token the server never issued gets 401 (MCP servers only accept their own tokens).",
        "MCP authorization (Token Handling); RFC 6750 §3.1",
        _rfc(6750, "3.1"),
    ),
    CheckInfo(
        "rs.upstream_token",
        "Raw upstream token refused (no passthrough)",
        "A token issued by the upstream provider is not accepted by the MCP endpoint (needs --upstream-token).",
        "MCP security best practices (Token Passthrough); MCP security-considerations (Access Token Privilege "
        "Restriction)",
        _SBP,
    ),
    CheckInfo(
        "rs.offline_access",
        "No offline_access in PRM scopes or challenge",
        "offline_access appears neither in PRM scopes_supported nor in the challenge's scope.",
        "MCP authorization (Refresh Tokens: SHOULD NOT)",
        _AUTHZ,
    ),
    CheckInfo(
        "authz.consent",
        "Own consent page before going upstream",
        "/authorize for a freshly registered client shows the server's own page; it does not redirect straight "
        "to the third party (confused deputy) or hand out a code unasked.",
        "MCP security-considerations (Confused Deputy Problem: MUST obtain consent per client); MCP security best "
        "practices (Confused Deputy)",
        _SBP,
        active=True,
    ),
    CheckInfo(
        "authz.redirect_exact",
        "Redirect URIs matched exactly",
        "Variants of the registered redirect URI (trailing slash, extra path, query, case, userinfo, scheme, "
        "port of a non-loopback URI) are refused and never redirected to.",
        "RFC 9700 §2.1; OAuth 2.1 §4.1.3; MCP security-considerations (Open Redirection)",
        _rfc(9700, "2.1"),
        active=True,
    ),
    CheckInfo(
        "reg.redirect_uri_policy",
        "Dangerous redirect URIs refused at registration",
        "javascript:, data:, plain http to a non-loopback host and URIs with a fragment are not registered.",
        "OAuth 2.1 §2.3.1; RFC 8252 §8.3; MCP security-considerations (Communication Security)",
        _SECURITY,
        active=True,
    ),
    CheckInfo(
        "authz.pkce_required",
        "PKCE required",
        "An authorization request without code_challenge is refused (error, not a consent page).",
        "OAuth 2.1 §4.1.1; RFC 9700 §2.1.1; MCP security-considerations (Authorization Code Protection)",
        _rfc(9700, "2.1.1"),
        active=True,
    ),
    CheckInfo(
        "authz.pkce_plain",
        "PKCE plain refused",
        "code_challenge_method=plain is refused.",
        "OAuth 2.1 §4.1.1; RFC 9700 §2.1.1",
        _rfc(9700, "2.1.1"),
        active=True,
    ),
    CheckInfo(
        "authz.error_iss",
        "Error responses carry iss",
        "An authorization error redirected to the client includes iss when the AS advertises RFC 9207 support.",
        "RFC 9207 §2; MCP authorization (Authorization Response Validation)",
        _rfc(9207, "2"),
        active=True,
    ),
    CheckInfo(
        "token.pkce_verifier",
        "Wrong PKCE verifier refused",
        "A code redeemed with the wrong code_verifier gets invalid_grant (only testable when a code was handed "
        "out without user interaction).",
        "RFC 7636 §4.6; OAuth 2.1 §4.1.3",
        _rfc(7636, "4.6"),
        active=True,
    ),
    CheckInfo(
        "consent.headers",
        "Consent page cannot be framed or cached",
        "The consent page sends CSP frame-ancestors 'none' or X-Frame-Options, and Cache-Control: no-store.",
        "MCP security best practices (Consent UI: prevent iframing); RFC 9700 §4.16",
        _rfc(9700, "4.16"),
        active=True,
    ),
    CheckInfo(
        "consent.cookies",
        "Cookies are __Host-, Secure, HttpOnly, SameSite",
        "Every cookie set during authorization uses the __Host- prefix with Secure, HttpOnly and SameSite.",
        "MCP security best practices (Consent cookies MUST); RFC 6265bis §4.1.3.2",
        _SBP,
        active=True,
    ),
    CheckInfo(
        "consent.identifies_client",
        "Consent page names the client and where codes go",
        "The page shows the registered client name and the redirect URI's host.",
        "MCP security best practices (Consent UI MUST identify the client and the redirect_uri)",
        _SBP,
        active=True,
    ),
    CheckInfo(
        "reg.body_limit",
        "Oversized registration refused",
        "A 1 MB registration request is refused.",
        "RFC 7591 §3.2.2; MCP security-considerations (Authorization Server Abuse Protection)",
        _SECURITY,
        active=True,
    ),
    CheckInfo(
        "reg.rate_limit",
        "Registration is rate limited",
        "A burst of registrations from one address is answered 429 at some point.",
        "RFC 6585 §4; MCP security-considerations (Authorization Server Abuse Protection)",
        _SECURITY,
        active=True,
    ),
)

_BY_ID: Final = {c.check_id: c for c in CHECKS}


def info(check_id: str) -> CheckInfo:
    """The catalog entry; ``KeyError`` for an unknown id (a bug)."""
    return _BY_ID[check_id]
