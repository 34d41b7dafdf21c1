"""A tiny MCP-style OAuth client for the demo: registers itself, runs the PKCE flow against Deputy, shows the result.

It plays the part an AI assistant plays in production, so a newcomer can watch the whole flow in a browser. It
keeps its state in memory and shows token *claims*, never the tokens themselves.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
from jinja2 import Environment, select_autoescape
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

__all__ = ["create_demo_client"]

_PAGE = Environment(autoescape=select_autoescape(default_for_string=True)).from_string(
    """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Demo MCP client</title></head><body>
<h1>Demo MCP client</h1>
<p>Registered with Deputy as <code>{{ client_id or "(not yet)" }}</code>.</p>
<p><a id="connect" href="/connect">Connect to Acme CRM through Deputy</a> ·
<a href="/connect?fresh=1">Connect as a newly registered client</a></p>
{% if error %}<p id="error"><strong>Authorization failed:</strong> {{ error }}</p>{% endif %}
{% if claims %}<h2>Connected</h2><p id="connected">Deputy issued an access token for its MCP resource:</p>
<pre id="claims">{{ claims }}</pre>
<form method="post" action="/refresh"><button id="refresh" type="submit">Refresh the token</button></form>{% endif %}
</body></html>"""
)


@dataclass
class _State:
    client_id: str | None = None
    pending: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, Any] | None = None
    error: str | None = None


def _claims(access_token: str) -> str:
    payload = access_token.split(".")[1]
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return json.dumps(data, indent=2, sort_keys=True)


def create_demo_client(client_url: str, deputy_url: str) -> Starlette:
    state = _State()
    redirect_uri = client_url + "/callback"
    resource = deputy_url + "/mcp"

    async def register(http: httpx.AsyncClient) -> str:
        body = {"client_name": "Demo MCP client", "redirect_uris": [redirect_uri], "token_endpoint_auth_method": "none"}
        r = await http.post(deputy_url + "/register", json=body)
        r.raise_for_status()
        return str(r.json()["client_id"])

    async def home(request: Request) -> Response:
        claims = _claims(state.tokens["access_token"]) if state.tokens else None
        return HTMLResponse(_PAGE.render(client_id=state.client_id, claims=claims, error=state.error))

    async def connect(request: Request) -> Response:
        async with httpx.AsyncClient() as http:
            if state.client_id is None or request.query_params.get("fresh"):
                state.client_id = await register(http)
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        flow_state = secrets.token_urlsafe(16)
        state.pending[flow_state] = verifier
        params = {"response_type": "code", "client_id": state.client_id, "redirect_uri": redirect_uri,
                  "code_challenge": challenge, "code_challenge_method": "S256", "state": flow_state,
                  "scope": "crm.read crm.write", "resource": resource}  # fmt: skip
        return RedirectResponse(f"{deputy_url}/authorize?{urlencode(params)}", status_code=302)

    async def callback(request: Request) -> Response:
        q = request.query_params
        verifier = state.pending.pop(q.get("state", ""), None)
        state.error = None
        if verifier is None or q.get("iss") != deputy_url:
            state.error = "unexpected state or issuer"
        elif "error" in q:
            state.error = q.get("error")
        else:
            form = {"grant_type": "authorization_code", "code": q.get("code", ""), "redirect_uri": redirect_uri,
                    "client_id": state.client_id or "", "code_verifier": verifier, "resource": resource}  # fmt: skip
            async with httpx.AsyncClient() as http:
                r = await http.post(deputy_url + "/token", data=form)
            state.tokens = r.json() if r.status_code == 200 else None
            state.error = None if r.status_code == 200 else r.json().get("error")
        return RedirectResponse("/", status_code=303)

    async def refresh(request: Request) -> Response:
        if state.tokens and state.tokens.get("refresh_token"):
            form = {"grant_type": "refresh_token", "refresh_token": state.tokens["refresh_token"],
                    "client_id": state.client_id or ""}  # fmt: skip
            async with httpx.AsyncClient() as http:
                r = await http.post(deputy_url + "/token", data=form)
            state.tokens = r.json() if r.status_code == 200 else None
            state.error = None if r.status_code == 200 else r.json().get("error")
        return RedirectResponse("/", status_code=303)

    return Starlette(
        routes=[
            Route("/", home),
            Route("/connect", connect),
            Route("/callback", callback),
            Route("/refresh", refresh, methods=["POST"]),
        ]
    )
