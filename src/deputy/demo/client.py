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
<form method="post" action="/refresh"><button id="refresh" type="submit">Refresh the token</button></form>
<h2>Call an MCP tool</h2>
<form method="post" action="/search"><label>Search Acme contacts through Deputy's MCP endpoint:
<input name="q" id="q" value="{{ q }}"></label> <button id="search" type="submit">contacts_search</button></form>
{% if tool_result %}<pre id="tool-result">{{ tool_result }}</pre>{% endif %}{% endif %}
</body></html>"""
)


@dataclass
class _State:
    client_id: str | None = None
    pending: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, Any] | None = None
    error: str | None = None
    tool_result: str | None = None
    q: str = ""


def _claims(access_token: str) -> str:
    payload = access_token.split(".")[1]
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return json.dumps(data, indent=2, sort_keys=True)


class _DemoClient:
    def __init__(self, client_url: str, deputy_url: str) -> None:
        self.state = _State()
        self.deputy_url = deputy_url
        self.redirect_uri = client_url + "/callback"
        self.resource = deputy_url + "/mcp"

    async def register(self, http: httpx.AsyncClient) -> str:
        body = {
            "client_name": "Demo MCP client",
            "redirect_uris": [self.redirect_uri],
            "token_endpoint_auth_method": "none",
        }
        r = await http.post(self.deputy_url + "/register", json=body)
        r.raise_for_status()
        return str(r.json()["client_id"])

    async def home(self, request: Request) -> Response:
        state = self.state
        claims = _claims(state.tokens["access_token"]) if state.tokens else None
        return HTMLResponse(
            _PAGE.render(
                client_id=state.client_id, claims=claims, error=state.error, tool_result=state.tool_result, q=state.q
            )
        )

    async def connect(self, request: Request) -> Response:
        state = self.state
        async with httpx.AsyncClient() as http:
            if state.client_id is None or request.query_params.get("fresh"):
                state.client_id = await self.register(http)
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        flow_state = secrets.token_urlsafe(16)
        state.pending[flow_state] = verifier
        params = {
            "response_type": "code",
            "client_id": state.client_id,
            "redirect_uri": self.redirect_uri,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "state": flow_state,
            "scope": "crm.read crm.write",
            "resource": self.resource,
        }
        return RedirectResponse(f"{self.deputy_url}/authorize?{urlencode(params)}", status_code=302)

    async def callback(self, request: Request) -> Response:
        q, state = request.query_params, self.state
        verifier = state.pending.pop(q.get("state", ""), None)
        state.error = None
        if verifier is None or q.get("iss") != self.deputy_url:
            state.error = "unexpected state or issuer"
        elif "error" in q:
            state.error = q.get("error")
        else:
            form = {
                "grant_type": "authorization_code",
                "code": q.get("code", ""),
                "redirect_uri": self.redirect_uri,
                "client_id": state.client_id or "",
                "code_verifier": verifier,
                "resource": self.resource,
            }
            await self._token(form)
        return RedirectResponse("/", status_code=303)

    async def refresh(self, request: Request) -> Response:
        state = self.state
        if state.tokens and state.tokens.get("refresh_token"):
            await self._token(
                {
                    "grant_type": "refresh_token",
                    "refresh_token": state.tokens["refresh_token"],
                    "client_id": state.client_id or "",
                }
            )
        return RedirectResponse("/", status_code=303)

    async def _token(self, form: dict[str, str]) -> None:
        async with httpx.AsyncClient() as http:
            r = await http.post(self.deputy_url + "/token", data=form)
        self.state.tokens = r.json() if r.status_code == 200 else None
        self.state.error = None if r.status_code == 200 else str(r.json().get("error"))

    async def search(self, request: Request) -> Response:
        """One MCP ``tools/call`` over streamable HTTP, with the access token Deputy issued."""
        state = self.state
        form = await request.form()
        state.q = str(form.get("q", ""))[:100]
        if state.tokens:
            body = {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "tools/call",
                "params": {"name": "contacts_search", "arguments": {"q": state.q}},
            }
            headers = {
                "Authorization": f"Bearer {state.tokens['access_token']}",
                "MCP-Protocol-Version": "2025-11-25",
                "Accept": "application/json, text/event-stream",
            }
            async with httpx.AsyncClient() as http:
                r = await http.post(self.resource, json=body, headers=headers)
            state.tool_result = json.dumps(r.json(), indent=2) if r.status_code == 200 else f"HTTP {r.status_code}"
        return RedirectResponse("/", status_code=303)


def create_demo_client(client_url: str, deputy_url: str) -> Starlette:
    client = _DemoClient(client_url, deputy_url)
    return Starlette(
        routes=[
            Route("/", client.home),
            Route("/connect", client.connect),
            Route("/callback", client.callback),
            Route("/refresh", client.refresh, methods=["POST"]),
            Route("/search", client.search, methods=["POST"]),
        ]
    )
