"""A scripted browser for end-to-end runs against live loopback servers (tests and bench).

It follows redirects by hand, keeps cookies per host like a browser (including ``Secure`` cookies on loopback,
which browsers treat as a secure context), approves Deputy's consent page, signs in at Acme CRM and allows there,
and stops at the client's redirect URI without contacting it.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx
from mcp.client.auth import TokenStorage
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken


class CookieJar:
    def __init__(self) -> None:
        self.by_host: dict[str, dict[str, str]] = {}

    def header(self, url: str) -> dict[str, str]:
        cookies = self.by_host.get(urlsplit(url).hostname or "", {})
        return {"cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())} if cookies else {}

    def update(self, url: str, response: httpx.Response) -> None:
        jar = self.by_host.setdefault(urlsplit(url).hostname or "", {})
        for line in response.headers.get_list("set-cookie"):
            name, _, rest = line.partition("=")
            value = rest.split(";")[0]
            if "max-age=0" in line.lower() or value in ("", '""'):
                jar.pop(name, None)
            else:
                jar[name] = value


def field(page: str, name: str) -> str:
    match = re.search(rf'name="{re.escape(name)}" value="([^"]*)"', page)
    assert match is not None, f"no field {name!r}"
    return html.unescape(match.group(1))


class HeadlessBrowser:
    def __init__(self, user: tuple[str, str] = ("alice", "alice-password")) -> None:
        self.user = user
        self.jar = CookieJar()
        self.pages: list[str] = []

    async def authorize(self, url: str, redirect_uri: str) -> dict[str, str]:
        """Run the browser part of an authorization and return the query delivered to ``redirect_uri``."""
        method, data = "GET", None
        async with httpx.AsyncClient(follow_redirects=False, timeout=30) as ua:
            for _ in range(15):
                headers = self.jar.header(url)
                r = await (
                    ua.post(url, data=data, headers=headers) if method == "POST" else ua.get(url, headers=headers)
                )
                self.jar.update(url, r)
                method, data = "GET", None
                if r.is_redirect:
                    url = urljoin(url, r.headers["location"])
                    if url.startswith(redirect_uri):
                        return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
                    continue
                method, url, data = self._answer(url, r)
        raise AssertionError(f"authorization did not reach the client: {self.pages}")

    def _answer(self, url: str, r: httpx.Response) -> tuple[str, str, dict[str, str]]:
        origin = f"{urlsplit(url).scheme}://{urlsplit(url).netloc}"
        if r.status_code == 200 and 'name="flow_id"' in r.text:
            self.pages.append("deputy-consent")
            return (
                "POST",
                origin + "/consent",
                {"flow_id": field(r.text, "flow_id"), "csrf_token": field(r.text, "csrf_token"), "action": "approve"},
            )
        if r.status_code == 200 and 'action="/login"' in r.text:
            self.pages.append("acme-login")
            return (
                "POST",
                origin + "/login",
                {"username": self.user[0], "password": self.user[1], "return_to": field(r.text, "return_to")},
            )
        if r.status_code == 200 and 'name="decision"' in r.text:
            self.pages.append("acme-consent")
            return (
                "POST",
                origin + "/consent",
                {"csrf_token": field(r.text, "csrf_token"), "request": field(r.text, "request"), "decision": "approve"},
            )
        raise AssertionError(f"unexpected page {r.status_code} at {url}: {r.text[:300]}")


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    return verifier, base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


async def obtain_tokens(
    base: str,
    *,
    redirect_uri: str = "http://127.0.0.1:9/cb",
    scope: str = "crm.read crm.write",
    client_id: str | None = None,
    user: tuple[str, str] = ("alice", "alice-password"),
) -> dict[str, str]:
    """The whole OAuth flow against a live Deputy: register (unless ``client_id`` is given), consent in a fresh
    headless browser, code exchange with PKCE. Returns the token response plus ``client_id``."""
    async with httpx.AsyncClient(timeout=30) as http:
        if client_id is None:
            reg = await http.post(base + "/register", json={"client_name": "harness", "redirect_uris": [redirect_uri]})
            client_id = str(reg.json()["client_id"])
        verifier, challenge = pkce_pair()
        query = {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "scope": scope,
            "state": "s",
        }
        result = await HeadlessBrowser(user).authorize(base + "/authorize?" + urlencode(query), redirect_uri)
        form = {
            "grant_type": "authorization_code",
            "code": result["code"],
            "redirect_uri": redirect_uri,
            "client_id": client_id,
            "code_verifier": verifier,
        }
        r = await http.post(base + "/token", data=form)
        r.raise_for_status()
        return {**r.json(), "client_id": client_id}


class MemoryTokenStorage(TokenStorage):
    """Token storage for the official MCP SDK client, in memory (one test, one client)."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client_info: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info
