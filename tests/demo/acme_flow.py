"""Browser and client steps of the Acme OAuth flow, shared by the Acme CRM tests.

The helpers act like a browser would: they read hidden form fields out of the rendered HTML and follow
exactly the redirects a browser follows, so the tests exercise what a user actually sees.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from starlette.types import ASGIApp

ISSUER = "http://localhost:9100"
CALLBACK = "http://localhost:8000/upstream/callback"
CLIENT_ID = "deputy-demo"
CLIENT_SECRET = "deputy-demo-secret"
ALL_SCOPES = "profile contacts:read contacts:write deals:read deals:write notes:read notes:write"
ALICE = ("alice", "alice-password")
BOB = ("bob", "bob-password")
ALICE_ID = "acme-u-1001"
BOB_ID = "acme-u-1002"


def make_pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize_params(scope: str = ALL_SCOPES, state: str = "st-123", **extra: str) -> dict[str, str]:
    params = {"response_type": "code", "client_id": CLIENT_ID, "redirect_uri": CALLBACK, "scope": scope}
    if state:
        params["state"] = state
    params.update(extra)
    return params


def hidden_field(page: str, name: str) -> str:
    match = re.search(rf'name="{re.escape(name)}" value="([^"]*)"', page)
    assert match is not None, f"no hidden field {name!r} on the page"
    return html.unescape(match.group(1))


def redirect_params(response: httpx.Response) -> dict[str, str]:
    """The query of a redirect to the client's callback, which must be exactly the registered URI."""
    assert response.status_code in (302, 303), response.text
    location = response.headers["location"]
    assert location.startswith(CALLBACK + "?"), location
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query, keep_blank_values=True).items()}


def is_login_page(response: httpx.Response) -> bool:
    return response.status_code == 200 and 'action="/login"' in response.text


def is_consent_page(response: httpx.Response) -> bool:
    return response.status_code == 200 and 'action="/consent"' in response.text


async def log_in(client: httpx.AsyncClient, login_page: httpx.Response, who: tuple[str, str] = ALICE) -> httpx.Response:
    """Submit the login form and follow the redirect back to /authorize, as the browser would."""
    form = {"username": who[0], "password": who[1], "return_to": hidden_field(login_page.text, "return_to")}
    response = await client.post("/login", data=form)
    assert response.status_code == 303, response.text
    return await client.get(response.headers["location"])


async def decide(client: httpx.AsyncClient, consent_page: httpx.Response, decision: str = "approve") -> httpx.Response:
    form = {
        "csrf_token": hidden_field(consent_page.text, "csrf_token"),
        "request": hidden_field(consent_page.text, "request"),
        "decision": decision,
    }
    return await client.post("/consent", data=form)


async def authorize_code(
    client: httpx.AsyncClient, who: tuple[str, str] = ALICE, scope: str = ALL_SCOPES, **extra: str
) -> dict[str, str]:
    """Run login and consent as needed and return the callback parameters."""
    response = await client.get("/authorize", params=authorize_params(scope, **extra))
    if is_login_page(response):
        response = await log_in(client, response, who)
    if is_consent_page(response):
        response = await decide(client, response)
    return redirect_params(response)


async def token_request(client: httpx.AsyncClient, form: dict[str, str], basic: bool = True) -> httpx.Response:
    if basic:
        return await client.post("/token", data=form, auth=(CLIENT_ID, CLIENT_SECRET))
    return await client.post("/token", data={**form, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET})


async def exchange(client: httpx.AsyncClient, code: str, **extra: str) -> httpx.Response:
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK, **extra}
    return await token_request(client, form)


def new_browser(app: ASGIApp) -> httpx.AsyncClient:
    """A client with its own cookie jar: a separate browser profile talking to the same provider."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=ISSUER)


async def obtain_tokens(app: ASGIApp, who: tuple[str, str] = ALICE, scope: str = ALL_SCOPES) -> Tokens:
    """Tokens for ``who`` from a fresh browser, so several users can hold tokens in one test."""
    async with new_browser(app) as browser:
        verifier, challenge = make_pkce()
        params = await authorize_code(browser, who, scope, code_challenge=challenge, code_challenge_method="S256")
        response = await exchange(browser, params["code"], code_verifier=verifier)
    assert response.status_code == 200, response.text
    return Tokens(response.json())


@dataclass
class Tokens:
    body: dict[str, Any]

    @property
    def access(self) -> str:
        return str(self.body["access_token"])

    @property
    def refresh(self) -> str:
        return str(self.body["refresh_token"])

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access}"}
