"""Recorded responses for the pure-check tests, and a CLI runner. ``good_*`` builders describe a server that
passes every check; tests override one thing and watch one check fail."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from vulnerable_server import Recorder, VulnerableState

from deputy.scanner.cli import add_scan_parser
from deputy.scanner.model import (
    ActiveObservations,
    AuthorizeTrip,
    Discovery,
    Exchange,
    Probe,
    ResourceProbes,
    TripProbe,
)

MCP = "https://mcp.example/mcp"
ISSUER = "https://mcp.example"
PRM_URL = "https://mcp.example/.well-known/oauth-protected-resource/mcp"
AS_URL = "https://mcp.example/.well-known/oauth-authorization-server"
AUTHZ = "https://mcp.example/authorize"
LISTENER = "http://127.0.0.1:5555/callback"
REMOTE = "https://abcd.deputy-scan.invalid/callback"
UPSTREAM = "https://upstream.example/oauth/authorize?client_id=static"
CLIENT_NAME = "deputy-scan-0001"
CHALLENGE = f'Bearer resource_metadata="{PRM_URL}", scope="mcp.read"'
UPSTREAM_TOKEN = "fake-upstream-token-0123456789"


@dataclass(frozen=True)
class VulnerableWorld:
    """The vulnerable proxy's base URL and state, its "upstream" authorize URL and the recorder behind it."""

    base_url: str
    upstream_authorize: str
    recorder: Recorder
    state: VulnerableState

    @property
    def mcp_url(self) -> str:
        return self.base_url + "/mcp"


def ex(
    status: int | None = 200,
    *,
    method: str = "GET",
    url: str = AUTHZ,
    headers: Sequence[tuple[str, str]] = (),
    body: bytes | str | dict[str, Any] = b"",
    request_headers: Sequence[tuple[str, str]] = (),
    error: str | None = None,
) -> Exchange:
    """One recorded exchange; a dict body becomes JSON (and a JSON content type)."""
    headers = list(headers)
    if isinstance(body, dict):
        body = json.dumps(body)
        headers.append(("content-type", "application/json"))
    raw = body.encode() if isinstance(body, str) else body
    return Exchange(
        method, url, tuple(request_headers), 0, status, tuple(headers), raw, error=error if status is None else None
    )


def redirect(location: str, *, url: str = AUTHZ, cookies: Sequence[str] = ()) -> Exchange:
    return ex(302, url=url, headers=[("location", location), *(("set-cookie", c) for c in cookies)])


def page(html: str = "<form method=post>Allow?</form>", *, headers: Sequence[tuple[str, str]] = ()) -> Exchange:
    return ex(200, headers=[("content-type", "text/html; charset=utf-8"), *headers], body=html)


GOOD_PAGE_HEADERS = (
    ("content-security-policy", "default-src 'none'; frame-ancestors 'none'"),
    ("x-frame-options", "DENY"),
    ("cache-control", "no-store"),
    ("set-cookie", "__Host-csrf=s3cr3t-cookie-value; Path=/; Secure; HttpOnly; SameSite=Lax"),
)
GOOD_CONSENT_HTML = (
    f"<h1>Allow {CLIENT_NAME}?</h1><p>Codes go to <b>127.0.0.1</b></p><form method=post><button>Allow</button></form>"
)

GOOD_PRM = {"resource": MCP, "authorization_servers": [ISSUER], "scopes_supported": ["mcp.read"]}
GOOD_AS = {
    "issuer": ISSUER,
    "authorization_endpoint": AUTHZ,
    "token_endpoint": f"{ISSUER}/token",
    "registration_endpoint": f"{ISSUER}/register",
    "code_challenge_methods_supported": ["S256"],
    "authorization_response_iss_parameter_supported": True,
    "client_id_metadata_document_supported": True,
}


def good_discovery(
    *,
    baseline: Exchange | None = None,
    prm: dict[str, Any] | None = GOOD_PRM,
    as_metadata: dict[str, Any] | None = GOOD_AS,
    issuer: str = ISSUER,
    mcp_url: str = MCP,
) -> Discovery:
    baseline = baseline or ex(401, method="POST", url=mcp_url, headers=[("www-authenticate", CHALLENGE)])
    prm_attempts = (ex(200 if prm else 404, url=PRM_URL, body=prm or "not found"),)
    as_attempts = (ex(200 if as_metadata else 404, url=AS_URL, body=as_metadata or "not found"),)
    return Discovery(
        mcp_url=mcp_url,
        baseline=baseline,
        prm_attempts=prm_attempts,
        prm_url=PRM_URL if prm else None,
        prm_source="header" if prm else None,
        prm=dict(prm) if prm else None,
        issuer=issuer,
        issuer_source="prm",
        as_attempts=as_attempts,
        as_url=AS_URL if as_metadata else None,
        as_metadata=dict(as_metadata) if as_metadata else None,
    )


def rs_response(status: int, challenge: str = 'Bearer error="invalid_token"') -> Exchange:
    headers = [("www-authenticate", challenge)] if status == 401 else []
    return ex(status, method="POST", url=MCP, headers=headers, body={"error": "x"} if status >= 400 else {"ok": 1})


def good_probes(**overrides: Exchange | None) -> ResourceProbes:
    base = ResourceProbes(
        foreign_origin=rs_response(403),
        query_token=ex(401, method="POST", url=MCP + "?access_token=abc", headers=[("www-authenticate", CHALLENGE)]),
        invalid_token=rs_response(401),
        upstream_token=rs_response(401),
    )
    return replace(base, **overrides)


def trip(*hops: Exchange, left_to: str | None = None) -> AuthorizeTrip:
    return AuthorizeTrip(tuple(hops), left_to)


def refused() -> AuthorizeTrip:
    return trip(ex(400, headers=[("content-type", "text/html")], body="<p>invalid redirect</p>"))


def error_redirect(iss: str | None = ISSUER) -> AuthorizeTrip:
    query = "error=invalid_request&state=s1" + (f"&iss={iss}" if iss else "")
    return trip(redirect(f"{LISTENER}?{query}"))


def registration(status: int = 201, **doc: Any) -> Exchange:
    body = doc or ({"client_id": "c1", "client_name": CLIENT_NAME} if status < 300 else {"error": "invalid_x"})
    return ex(status, method="POST", url=f"{ISSUER}/register", body=body)


def good_active(**overrides: Any) -> ActiveObservations:
    variants = tuple(
        TripProbe(label, value, refused())
        for label, value in (("trailing-slash", LISTENER + "/"), ("extra-query", LISTENER + "?x=1"))
    )
    dangerous = tuple(
        Probe(label, uri, registration(400))
        for label, uri in (("javascript", "javascript:alert(1)"), ("fragment", LISTENER + "#x"))
    )
    base = ActiveObservations(
        redirect_uri=LISTENER,
        remote_redirect_uri=REMOTE,
        authorization_endpoint=AUTHZ,
        client_name=CLIENT_NAME,
        registration=registration(),
        client_id="c1",
        authorize=trip(page(GOOD_CONSENT_HTML, headers=GOOD_PAGE_HEADERS)),
        variants=variants,
        pkce_missing=error_redirect(),
        pkce_plain=refused(),
        dangerous=dangerous,
        large_body=ex(413, method="POST", url=f"{ISSUER}/register", body={"error": "invalid_request"}),
        burst=(registration(), registration(), ex(429, method="POST", url=f"{ISSUER}/register")),
        burst_size=30,
    )
    return replace(base, **overrides)


def parse_scan_args(argv: Sequence[str]) -> argparse.Namespace:
    """Parse ``deputy scan …`` exactly as the lead's ``deputy`` parser will, through ``add_scan_parser``."""
    parser = argparse.ArgumentParser(prog="deputy")
    sub = parser.add_subparsers(dest="command", required=True)
    add_scan_parser(sub)
    return parser.parse_args(["scan", *argv])


def run_cli(argv: Sequence[str]) -> int:
    args = parse_scan_args(argv)
    return int(args.func(args))
