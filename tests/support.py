"""Test harness: Deputy and Acme CRM in-process, reached through one routing transport, and a scripted browser.

Hosts are https so that ``__Host-`` (Secure) cookies behave as in a real browser. Each ``browser()`` has its
own cookie jar, so "the victim's browser" and "the attacker's browser" are different clients.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from starlette.types import ASGIApp

from deputy.app import build_context, create_app
from deputy.clock import FrozenClock
from deputy.config import Settings, load_settings
from deputy.demo.acme import AcmeSettings, create_acme_app, default_settings
from deputy.service.context import ServiceContext
from deputy.storage.sql.engine import Database

DEPUTY = "https://deputy.example"
ACME = "https://acme.example"
RESOURCE = DEPUTY + "/mcp"
APP_REDIRECT = "https://app.example/callback"
ATTACKER_REDIRECT = "https://attacker.example/cb"
ACME_CLIENT_SECRET = "acme-client-secret-for-tests"
MCP_HEADERS = {
    "accept": "application/json, text/event-stream",
    "content-type": "application/json",
    "mcp-protocol-version": "2025-11-25",
}
ALICE = ("alice", "alice-password")
BOB = ("bob", "bob-password")


class Router(httpx.AsyncBaseTransport):
    """Routes requests by host to in-process ASGI apps; any other host is unreachable, like a closed network."""

    def __init__(self, apps: dict[str, ASGIApp], client_ip: str = "198.51.100.7") -> None:
        self.apps = {host: httpx.ASGITransport(app=app, client=(client_ip, 50000)) for host, app in apps.items()}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        transport = self.apps.get(request.url.host)
        if transport is None:
            raise httpx.ConnectError(f"no route to {request.url.host}", request=request)
        return await transport.handle_async_request(request)


def deputy_settings(tmp_path: Path, db_url: str | None = None, **overrides: Any) -> Settings:
    data: dict[str, Any] = {
        "server": {"base_url": DEPUTY},
        "storage": {"url": db_url or f"sqlite:///{tmp_path / 'deputy.db'}"},
        "keys": {"file": str(tmp_path / "keys.json"), "create_if_missing": True},
        "upstream": {
            "name": "Acme CRM",
            "discovery_url": ACME + "/.well-known/oauth-authorization-server",
            "client_id": "deputy-demo",
            "client_secret": ACME_CLIENT_SECRET,
            "scopes": ["profile"],
        },
        "scopes": {
            "crm.read": {
                "description": "Read contacts, deals and notes",
                "upstream": ["contacts:read", "deals:read", "notes:read"],
            },
            "crm.write": {
                "description": "Create and update contacts, deals and notes",
                "upstream": ["contacts:write", "deals:write", "notes:write"],
            },
        },
        "default_scopes": ["crm.read"],
    }
    for key, value in overrides.items():
        data[key] = {**data[key], **value} if isinstance(value, dict) and isinstance(data.get(key), dict) else value
    return load_settings(None, overrides=data)


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query, keep_blank_values=True).items()}


def hidden(page: str, name: str) -> str:
    match = re.search(rf'name="{re.escape(name)}" value="([^"]*)"', page)
    assert match is not None, f"no hidden field {name!r}"
    return html.unescape(match.group(1))


@dataclass
class Trip:
    """What a scripted browser saw: each URL it loaded and what kind of page it was."""

    steps: list[tuple[str, str]] = field(default_factory=list)
    final: httpx.Response | None = None
    landed: str | None = None  # the URL at a client redirect URI, if the browser got there

    def kinds(self) -> list[str]:
        return [k for _, k in self.steps]

    @property
    def params(self) -> dict[str, str]:
        assert self.landed is not None, f"browser never reached the client: {self.steps}"
        return query_of(self.landed)


@dataclass
class Env:
    settings: Settings
    ctx: ServiceContext
    app: ASGIApp
    acme_app: Any
    acme_settings: AcmeSettings
    clock: FrozenClock
    client_ip: str = "198.51.100.7"

    def router(self) -> Router:
        return Router({"deputy.example": self.app, "acme.example": self.acme_app}, self.client_ip)

    def browser(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=self.router(), base_url=DEPUTY, follow_redirects=False)

    def api(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=self.router(), base_url=DEPUTY, follow_redirects=False)

    async def register(self, redirect_uris: list[str] | None = None, **extra: Any) -> dict[str, Any]:
        body = {"client_name": "Test Assistant", "redirect_uris": redirect_uris or [APP_REDIRECT],
                "token_endpoint_auth_method": "none", **extra}  # fmt: skip
        async with self.api() as api:
            r = await api.post("/register", json=body)
        assert r.status_code == 201, r.text
        return dict(r.json())

    def authorize_url(self, client_id: str, challenge: str, *, redirect_uri: str = APP_REDIRECT, state: str = "s1",
                      **extra: str) -> str:  # fmt: skip
        params = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri,
                  "code_challenge": challenge, "code_challenge_method": "S256", "state": state,
                  "resource": RESOURCE, **extra}  # fmt: skip
        return f"{DEPUTY}/authorize?{urlencode(params)}"

    async def drive(self, browser: httpx.AsyncClient, url: str, *, user: tuple[str, str] = ALICE,
                    deputy_action: str | None = "approve", acme_action: str = "approve",
                    stop_hosts: tuple[str, ...] = ("app.example", "attacker.example")) -> Trip:  # fmt: skip
        """Follow a browser journey, answering pages as a user would; stop at a client redirect URI."""
        trip = Trip()
        method, data = "GET", None
        for _ in range(20):
            r = await (browser.post(url, data=data) if method == "POST" else browser.get(url))
            method, data = "GET", None
            host = urlsplit(url).hostname
            if r.is_redirect:
                trip.steps.append((url, "redirect"))
                url = str(httpx.URL(url).join(r.headers["location"]))
                if urlsplit(url).hostname in stop_hosts:
                    trip.landed = url
                    trip.final = r
                    return trip
                continue
            kind = _page_kind(host, r)
            trip.steps.append((url, kind))
            trip.final = r
            if kind == "deputy-consent" and deputy_action:
                method, url = "POST", DEPUTY + "/consent"
                data = {"flow_id": hidden(r.text, "flow_id"), "csrf_token": hidden(r.text, "csrf_token"),
                        "action": deputy_action}  # fmt: skip
            elif kind == "acme-login":
                method, url = "POST", ACME + "/login"
                data = {"username": user[0], "password": user[1], "return_to": hidden(r.text, "return_to")}
            elif kind == "acme-consent":
                method, url = "POST", ACME + "/consent"
                data = {"csrf_token": hidden(r.text, "csrf_token"), "request": hidden(r.text, "request"),
                        "decision": acme_action}  # fmt: skip
            else:
                return trip
        raise AssertionError(f"browser loop did not end: {trip.steps}")

    async def token(self, **form: str) -> httpx.Response:
        async with self.api() as api:
            return await api.post("/token", data=form)

    async def full_flow(self, browser: httpx.AsyncClient | None = None, *, user: tuple[str, str] = ALICE,
                        scope: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:  # fmt: skip
        """Register a public client and take it through to tokens. Returns (client, token response)."""
        client = await self.register()
        verifier, challenge = pkce()
        extra = {"scope": scope} if scope else {}
        own = browser is None
        browser = browser or self.browser()
        try:
            trip = await self.drive(browser, self.authorize_url(client["client_id"], challenge, **extra), user=user)
        finally:
            if own:
                await browser.aclose()
        code = trip.params["code"]
        r = await self.token(grant_type="authorization_code", code=code, redirect_uri=APP_REDIRECT,
                             client_id=client["client_id"], code_verifier=verifier, resource=RESOURCE)  # fmt: skip
        assert r.status_code == 200, r.text
        return client, dict(r.json())


def _page_kind(host: str | None, r: httpx.Response) -> str:
    if r.status_code != 200:
        return f"{host}-{r.status_code}"
    if host == "deputy.example" and 'name="flow_id"' in r.text:
        return "deputy-consent"
    if host == "acme.example" and 'action="/login"' in r.text:
        return "acme-login"
    if host == "acme.example" and 'name="decision"' in r.text:
        return "acme-consent"
    return f"{host}-page"


def make_env(tmp_path: Path, db_url: str | None = None, **overrides: Any) -> Env:
    settings = deputy_settings(tmp_path, db_url, **overrides)
    clock = FrozenClock()
    acme_settings = default_settings(ACME, DEPUTY + "/callback", client_secret=ACME_CLIENT_SECRET)
    acme_app = create_acme_app(acme_settings)
    ctx = build_context(settings, clock=clock)
    http = httpx.AsyncClient(transport=Router({"acme.example": acme_app}), follow_redirects=False)
    app = create_app(settings, http=http, ctx=ctx)
    return Env(settings, ctx, app, acme_app, acme_settings, clock)


def make_mcp_env(
    tmp_path: Path, db_url: str | None = None, *, intents: bool = True, intent_policy: dict[str, Any] | None = None
) -> Env:
    """Deputy with the Acme CRM tool catalogue, its tools calling the in-process Acme API. ``intents=False`` lets
    write tools run directly (for tests about something other than confirmation); ``intent_policy`` adds keys of
    the ``[intents]`` group."""
    from deputy.demo.runner import ACME_TOOLS

    return make_env(
        tmp_path,
        db_url,
        tools={"catalogue": str(ACME_TOOLS)},
        upstream={"api_base_url": ACME + "/api/v1"},
        intents={"enabled": intents, **(intent_policy or {})},
    )


def migrate_to(db: Database, revision: str, *, down: bool = False) -> None:
    """Run Alembic up (or down) to ``revision`` on ``db``: migration tests start from older schemas."""
    from alembic import command
    from alembic.config import Config

    import deputy.storage

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(deputy.storage.__file__).parent / "migrations"))
    with db.engine.connect() as conn:
        cfg.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(cfg, revision)
        conn.commit()


def minimal_config(
    path: Path, *, storage_url: str, keys_file: Path, create_keys: bool = True, server: str = ""
) -> Path:
    """A TOML configuration for a real ``deputy`` process: a static upstream and one scope, ``server`` lines (TOML)
    if given. Written to ``path``, which is returned."""
    server_table = f"[server]\n{server.strip()}\n" if server.strip() else ""
    create = "create_if_missing = true\n" if create_keys else ""
    path.write_text(
        f"""{server_table}[storage]
url = "{storage_url}"
[keys]
file = "{keys_file}"
{create}[upstream]
client_id = "static-client"
authorize_url = "https://up.example/authorize"
token_url = "https://up.example/token"
userinfo_url = "https://up.example/userinfo"
[scopes.read]
description = "Read"
""",
        encoding="utf-8",
    )
    return path
