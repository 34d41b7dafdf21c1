"""What an MCP client and its user's browser do against a live Deputy, one HTTP leg at a time.

``RoutedBrowser`` is the scripted browser of ``headless.py`` with two additions: it records every URL it loaded
(so a test can replay a callback, or see which instance served a leg), and it can send each Deputy leg to a chosen
address (``legs``: path → base URL), so one authorization can start on one instance and finish on another while
every instance publishes the same public base URL. The other functions are the client's side: register, redeem,
refresh, revoke, call a tool. Each returns the raw ``httpx.Response`` so callers assert on status and body.

No pytest imports here: bench/load.py uses this module too.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx

from headless import HeadlessBrowser, pkce_pair

__all__ = [
    "MCP_HEADERS",
    "REDIRECT",
    "Authorization",
    "RoutedBrowser",
    "call_tool",
    "redeem",
    "refresh",
    "register",
    "revoke",
    "start_authorization",
    "tool_json",
    "tool_result",
]

REDIRECT = "http://127.0.0.1:9/cb"  # never contacted: the browser stops at the redirect
MCP_HEADERS = {
    "accept": "application/json, text/event-stream",
    "content-type": "application/json",
    "mcp-protocol-version": "2025-11-25",
}
MAX_HOPS = 15
Headers = Mapping[str, str] | None  # extra request headers, e.g. an X-Request-Id to find the audit entry by


class RoutedBrowser(HeadlessBrowser):
    """A headless browser that records its trip and can pin each Deputy leg (by path) to one instance."""

    def __init__(
        self,
        public_url: str,
        legs: Mapping[str, str] | None = None,
        user: tuple[str, str] = ("alice", "alice-password"),
    ) -> None:
        super().__init__(user)
        self.public_url = public_url.rstrip("/")
        self.legs = dict(legs or {})
        self._deputy_origins = {self.public_url, *(t.rstrip("/") for t in self.legs.values())}
        self.visited: list[tuple[str, int]] = []  # (URL as sent, status)
        self.last: httpx.Response | None = None

    def route(self, url: str) -> str:
        """``url`` itself, or, for a Deputy leg pinned in ``legs``, the same path and query on that instance."""
        parts = urlsplit(url)
        target = self.legs.get(parts.path)
        if target is None or not self._is_deputy(url):
            return url
        return target.rstrip("/") + parts.path + (f"?{parts.query}" if parts.query else "")

    def _headers(self, url: str) -> dict[str, str]:
        """Cookies as a browser sends them; a pinned leg also keeps the public Host, as a load balancer does."""
        headers = self.jar.header(url)
        if self._is_deputy(url):
            headers["host"] = urlsplit(self.public_url).netloc
        return headers

    async def authorize(self, url: str, redirect_uri: str) -> dict[str, str]:
        """Run the browser part of an authorization; the query delivered to ``redirect_uri`` (code or error).

        Raises:
            AssertionError: the trip ended on a page that is neither a known form nor the client's redirect URI
                (``self.last`` holds that response).
        """
        method, data = "GET", None
        async with httpx.AsyncClient(follow_redirects=False, timeout=30) as ua:
            for _ in range(MAX_HOPS):
                url = self.route(url)
                headers = self._headers(url)
                r = await (
                    ua.post(url, data=data, headers=headers) if method == "POST" else ua.get(url, headers=headers)
                )
                self.visited.append((url, r.status_code))
                self.jar.update(url, r)
                self.last = r
                method, data = "GET", None
                if r.is_redirect:
                    url = urljoin(url, r.headers["location"])
                    if url.startswith(redirect_uri):
                        return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
                    continue
                method, url, data = self._answer(url, r)
        raise AssertionError(f"authorization did not reach the client: {self.pages}")

    def visits(self, path: str) -> list[str]:
        """The Deputy URLs (public or pinned) loaded at ``path``, in order."""
        return [url for url, _ in self.visited if urlsplit(url).path == path and self._is_deputy(url)]

    def _is_deputy(self, url: str) -> bool:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.netloc}" in self._deputy_origins

    async def replay(self, url: str) -> httpx.Response:
        """Load ``url`` again with this browser's cookies (e.g. a callback, to show its state is spent)."""
        async with httpx.AsyncClient(follow_redirects=False, timeout=30) as ua:
            return await ua.get(url, headers=self._headers(url))


@dataclass(frozen=True)
class Authorization:
    """A started authorization: the URL to open and what the client keeps for the code exchange."""

    url: str
    client_id: str
    verifier: str
    redirect_uri: str


def start_authorization(
    public_url: str, client_id: str, *, redirect_uri: str = REDIRECT, scope: str = "crm.read crm.write"
) -> Authorization:
    verifier, challenge = pkce_pair()
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "scope": scope,
        "state": "s",
        "resource": public_url.rstrip("/") + "/mcp",
    }
    return Authorization(f"{public_url.rstrip('/')}/authorize?{urlencode(query)}", client_id, verifier, redirect_uri)


async def register(
    http: httpx.AsyncClient, base: str, *, redirect_uri: str = REDIRECT, headers: Headers = None
) -> httpx.Response:
    body = {"client_name": "Cluster test client", "redirect_uris": [redirect_uri], "token_endpoint_auth_method": "none"}
    return await http.post(base + "/register", json=body, headers=headers)


async def redeem(
    http: httpx.AsyncClient, base: str, auth: Authorization, code: str, *, headers: Headers = None
) -> httpx.Response:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": auth.redirect_uri,
        "client_id": auth.client_id,
        "code_verifier": auth.verifier,
    }
    return await http.post(base + "/token", data=form, headers=headers)


async def refresh(
    http: httpx.AsyncClient, base: str, client_id: str, refresh_token: str, *, headers: Headers = None
) -> httpx.Response:
    form = {"grant_type": "refresh_token", "client_id": client_id, "refresh_token": refresh_token}
    return await http.post(base + "/token", data=form, headers=headers)


async def revoke(
    http: httpx.AsyncClient, base: str, client_id: str, token: str, *, headers: Headers = None
) -> httpx.Response:
    return await http.post(base + "/revoke", data={"client_id": client_id, "token": token}, headers=headers)


async def call_tool(
    http: httpx.AsyncClient,
    base: str,
    access_token: str,
    name: str,
    arguments: Mapping[str, Any] | None = None,
    *,
    headers: Headers = None,
) -> httpx.Response:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name, "arguments": arguments or {}}}
    sent = {**MCP_HEADERS, "authorization": f"Bearer {access_token}", **(headers or {})}
    return await http.post(base + "/mcp", json=body, headers=sent)


def tool_result(response: httpx.Response) -> tuple[bool, str]:
    """``(is_error, text)`` of a ``tools/call`` answer that came back as JSON-RPC over HTTP 200.

    Raises:
        AssertionError: not a 200 JSON-RPC result.
    """
    assert response.status_code == 200, f"{response.status_code} {response.text[:300]}"
    body = response.json()
    assert "result" in body, body
    text = " ".join(part.get("text", "") for part in body["result"].get("content", []))
    return bool(body["result"].get("isError")), text


def tool_json(response: httpx.Response) -> Any:
    """The JSON document a successful tool returned."""
    is_error, text = tool_result(response)
    assert not is_error, text
    return json.loads(text)
