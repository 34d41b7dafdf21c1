"""A deliberately vulnerable MCP proxy (AS + RS in one Starlette app) for the scanner's tests. NEVER deploy this.

Everything the confused-deputy article warns about, on purpose:

* open dynamic client registration: no size limit, no rate limit, any redirect URI (``javascript:`` included);
* no consent page: ``/authorize`` redirects straight to the "upstream" with a static client id;
* redirect URIs matched by prefix, so ``…/callback/anything`` and ``…/callback?x`` are accepted;
* PKCE ``plain`` advertised and accepted, and a missing ``code_challenge`` accepted too;
* token passthrough: the MCP endpoint accepts any bearer token, including a raw "upstream" token;
* the flow cookie has none of ``__Host-``, Secure, HttpOnly, SameSite;
* no Origin validation, and a token in ``?access_token=`` is accepted.

Its metadata is otherwise well-formed, so each flaw shows up as exactly its own failing check. The "upstream" is a
URL on a different host (``localhost`` vs ``127.0.0.1``): the scanner must record that redirect and never follow it.
Lives under tests/ only; nothing in ``src/`` imports it.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

__all__ = ["Recorder", "VulnerableState", "create_recorder_app", "create_vulnerable_app"]

UPSTREAM_STATIC_CLIENT_ID = "proxy-static-client-id"


@dataclass
class VulnerableState:
    base_url: str
    upstream_authorize_url: str
    clients: dict[str, list[str]] = field(default_factory=dict)
    registrations: int = 0
    mcp_calls: int = 0

    @property
    def resource(self) -> str:
        return f"{self.base_url}/mcp"


def _state(request: Request) -> VulnerableState:
    state: VulnerableState = request.app.state.vulnerable
    return state


async def _mcp(request: Request) -> Response:
    # Flaws: no Origin check; any bearer token (or ?access_token=) is passed through as valid.
    state = _state(request)
    auth = request.headers.get("authorization", "")
    token = auth[7:] if auth.lower().startswith("bearer ") else request.query_params.get("access_token")
    if not token:
        metadata = f"{state.base_url}/.well-known/oauth-protected-resource/mcp"
        challenge = f'Bearer resource_metadata="{metadata}", scope="mcp"'
        return JSONResponse({"error": "unauthorized"}, status_code=401, headers={"WWW-Authenticate": challenge})
    state.mcp_calls += 1
    body = {"jsonrpc": "2.0", "id": 1, "result": {"protocolVersion": "2025-11-25", "capabilities": {}}}
    return JSONResponse(body)


async def _prm(request: Request) -> Response:
    state = _state(request)
    return JSONResponse(
        {"resource": state.resource, "authorization_servers": [state.base_url], "scopes_supported": ["mcp"]}
    )


async def _as_metadata(request: Request) -> Response:
    base = _state(request).base_url
    return JSONResponse(
        {
            "issuer": base,
            "authorization_endpoint": f"{base}/authorize",
            "token_endpoint": f"{base}/token",
            "registration_endpoint": f"{base}/register",
            "response_types_supported": ["code"],
            "code_challenge_methods_supported": ["plain", "S256"],
            "authorization_response_iss_parameter_supported": True,
            "client_id_metadata_document_supported": True,
        }
    )


async def _register(request: Request) -> Response:
    # Flaws: reads any size, no rate limit, stores whatever redirect URIs it is given.
    state = _state(request)
    state.registrations += 1
    try:
        body = json.loads(await request.body())
    except ValueError:
        return JSONResponse({"error": "invalid_client_metadata"}, status_code=400)
    client_id = "c-" + secrets.token_hex(8)
    state.clients[client_id] = [str(u) for u in body.get("redirect_uris", [])]
    echo = {k: body[k] for k in ("client_name", "redirect_uris") if k in body}
    return JSONResponse({"client_id": client_id, **echo}, 201)


async def _authorize(request: Request) -> Response:
    state = _state(request)
    params = request.query_params
    registered = state.clients.get(params.get("client_id", ""))
    redirect_uri = params.get("redirect_uri", "")
    # Flaw: prefix matching instead of exact string comparison.
    if registered is None or not any(redirect_uri.startswith(uri) for uri in registered):
        return PlainTextResponse("invalid redirect_uri", status_code=400)
    # Flaws: PKCE optional and `plain` accepted; no consent: straight to the upstream with a static client id.
    upstream = (
        state.upstream_authorize_url
        + "?"
        + urlencode(
            {
                "client_id": UPSTREAM_STATIC_CLIENT_ID,
                "redirect_uri": f"{state.base_url}/callback",
                "response_type": "code",
                "state": secrets.token_urlsafe(8),
            }
        )
    )
    response = RedirectResponse(upstream, status_code=302)
    response.headers.append("Set-Cookie", f"proxy_flow={secrets.token_hex(8)}; Path=/")
    return response


async def _token(request: Request) -> Response:
    return JSONResponse({"error": "invalid_grant"}, status_code=400)


def create_vulnerable_app(base_url: str, upstream_authorize_url: str) -> Starlette:
    """``base_url`` is where the app is served (issuer and resource origin), without a trailing slash."""
    app = Starlette(
        routes=[
            Route("/mcp", _mcp, methods=["GET", "POST"]),
            Route("/.well-known/oauth-protected-resource/mcp", _prm, methods=["GET"]),
            Route("/.well-known/oauth-protected-resource", _prm, methods=["GET"]),
            Route("/.well-known/oauth-authorization-server", _as_metadata, methods=["GET"]),
            Route("/register", _register, methods=["POST"]),
            Route("/authorize", _authorize, methods=["GET"]),
            Route("/token", _token, methods=["POST"]),
        ]
    )
    app.state.vulnerable = VulnerableState(base_url, upstream_authorize_url)
    return app


@dataclass
class Recorder:
    """Every request a recorder app received, as ``METHOD path?query``."""

    requests: list[str] = field(default_factory=list)


def create_recorder_app(recorder: Recorder) -> Starlette:
    """A host the scanner must never contact: it records anything that arrives."""

    async def anything(request: Request) -> Response:
        recorder.requests.append(f"{request.method} {request.url.path}?{request.url.query}")
        return PlainTextResponse("recorded")

    return Starlette(routes=[Route("/{path:path}", anything, methods=["GET", "POST", "PUT", "DELETE"])])
