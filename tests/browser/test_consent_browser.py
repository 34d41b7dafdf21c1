"""Deputy's consent step in a real browser: headless Chromium against Deputy and Acme CRM served by uvicorn.

The in-process tests (tests/http) script the HTTP exchange; these check what only a browser decides: that it
follows Deputy's redirects and forms as expected, that it stores Deputy's cookies with the attributes Deputy asked
for, that it refuses to frame the consent page, and that the confused-deputy replay fails end to end.

Deputy runs on http://127.0.0.1:PORT and Acme CRM on http://localhost:PORT (different hosts, separate cookies). MCP
clients are simulated: they register over HTTP and receive redirects at small loopback listeners; the "attacker"
is a listener on another loopback port. Chromium: /usr/bin/chromium. Without it the tests skip, unless
DEPUTY_TEST_CHROMIUM=1 (CI), in which case a Chromium that does not launch fails them.
"""

from __future__ import annotations

import base64
import hashlib
import html
import os
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Cookie, Page, Playwright, Response, sync_playwright
from playwright.sync_api import Request as BrowserRequest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from live import DemoServers, bind_loopback, start_demo

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_REQUIRED = os.environ.get("DEPUTY_TEST_CHROMIUM") == "1"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 10_000
HTTP_TIMEOUT_S = 10.0
ALICE = ("alice", "alice-password")
CSRF_COOKIE = "__Host-deputy-csrf"
BINDING_COOKIE = "__Host-deputy-binding"
SESSION_COOKIE = "__Host-deputy-session"
ACME_CONSENT_COOKIE = "acme_consent"
# Characters that must survive encoding and decoding on the way through Deputy: space, '+', '/', '&', '='.
STATE = "st 1+/&=x"


# --- fixtures ---------------------------------------------------------------------------------------------------


class Listener:
    """A loopback HTTP listener playing an MCP client (or an attacker): records every request, serves tiny pages."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.socket = bind_loopback()
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.pages: dict[str, str] = {}  # extra pages by path, e.g. the attacker's framing page
        self.app = Starlette(routes=[Route("/{path:path}", self._handle, methods=["GET"])])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.socket.getsockname()[1]}"

    @property
    def redirect_uri(self) -> str:
        return self.url + "/cb"

    def callbacks(self) -> list[dict[str, str]]:
        return [query for path, query in self.requests if path == "/cb"]

    async def _handle(self, request: Request) -> HTMLResponse:
        self.requests.append((request.url.path, dict(request.query_params)))
        name = html.escape(self.name)
        body = self.pages.get(request.url.path) or f'<h1 id="landed">{name}</h1>'
        # An empty icon, so the browser does not ask for /favicon.ico and every recorded request is a real one.
        head = f'<link rel="icon" href="data:,"><title>{name}</title>'
        return HTMLResponse(f"<!doctype html><html><head>{head}</head><body>{body}</body></html>")


@dataclass
class World:
    demo: DemoServers
    client: Listener
    attacker: Listener
    http: httpx.Client

    def register(self, name: str, redirect_uri: str) -> str:
        body = {"client_name": name, "redirect_uris": [redirect_uri], "token_endpoint_auth_method": "none"}
        r = self.http.post(self.demo.deputy_url + "/register", json=body)
        assert r.status_code == 201, r.text
        return str(r.json()["client_id"])

    def authorize_url(self, client_id: str, redirect_uri: str, challenge: str, **extra: str) -> str:
        params = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri,
                  "code_challenge": challenge, "code_challenge_method": "S256", "state": STATE,
                  "scope": "crm.read", "resource": self.demo.resource, **extra}  # fmt: skip
        return f"{self.demo.deputy_url}/authorize?{urlencode(params)}"


@dataclass
class Chromium:
    """Launches Chromium on first use, inside the test: with DEPUTY_TEST_CHROMIUM=1 a broken browser FAILS the test."""

    playwright: Playwright | None = None
    browser: Browser | None = None
    contexts: list[BrowserContext] = field(default_factory=list)

    def page(self) -> Page:
        """A page in a fresh context: a separate browser profile, with its own cookie jar."""
        if self.browser is None:
            try:
                self.playwright = sync_playwright().start()
                self.browser = self.playwright.chromium.launch(
                    executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=30_000
                )
            except Exception as exc:
                pytest.fail(f"Chromium did not launch from {CHROMIUM}: {exc}")
        context = self.browser.new_context()
        context.set_default_timeout(TIMEOUT_MS)
        context.set_default_navigation_timeout(TIMEOUT_MS)
        self.contexts.append(context)
        return context.new_page()

    def close(self) -> None:
        for context in self.contexts:
            context.close()
        if self.browser is not None:
            self.browser.close()
        if self.playwright is not None:
            self.playwright.stop()


@pytest.fixture(autouse=True)
def _require_chromium() -> None:
    """Runs first, so a skipped test does not even start the servers."""
    if not CHROMIUM.exists() and not CHROMIUM_REQUIRED:
        pytest.skip("Chromium not installed: apt-get install chromium")


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    client, attacker = Listener("Client app"), Listener("Attacker")
    extra = [(client.app, client.socket), (attacker.app, attacker.socket)]
    with (
        start_demo(tmp_path / "deputy", extra=extra) as demo,
        httpx.Client(timeout=HTTP_TIMEOUT_S, follow_redirects=False) as http,
    ):
        yield World(demo, client, attacker, http)


@pytest.fixture
def chromium(world: World) -> Iterator[Chromium]:  # after `world`, so the browser closes before the servers stop
    browser = Chromium()
    try:
        yield browser
    finally:
        browser.close()


# --- helpers ----------------------------------------------------------------------------------------------------


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    return verifier, base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def starts_with(prefix: str) -> Callable[[str], bool]:
    return lambda url: url.startswith(prefix)


def url_starts(prefix: str) -> Callable[[BrowserRequest | Response], bool]:
    return lambda message: message.url.startswith(prefix)


def query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))


def cookie(page: Page, name: str) -> Cookie | None:
    found = [c for c in page.context.cookies() if c["name"] == name]
    assert len(found) <= 1, found
    return found[0] if found else None


def set_cookie_headers(response: Response) -> list[str]:
    return [h["value"] for h in response.headers_array() if h["name"].lower() == "set-cookie"]


def open_consent(page: Page, url: str) -> Response:
    """Open an authorization link and check the browser stayed on Deputy's own consent page (no redirect)."""
    response = page.goto(url)
    assert response is not None
    assert response.status == 200
    assert response.request.redirected_from is None
    assert page.url == url
    assert page.locator("#approve").is_visible()
    assert page.locator("#deny").is_visible()
    return response


def sign_in_and_allow_at_acme(page: Page, user: tuple[str, str] = ALICE) -> None:
    """From Acme's login page: sign in, then press Allow on Acme's consent page (clicks wait for the button)."""
    page.fill("#username", user[0])
    page.fill("#password", user[1])
    page.click("button[type=submit]")
    page.click("button[value=approve]")


def first_connection(page: Page, world: World, client_id: str, challenge: str) -> dict[str, str]:
    """The victim connects a legitimate client: Deputy consent, Acme sign-in, Acme consent, back at the client."""
    open_consent(page, world.authorize_url(client_id, world.client.redirect_uri, challenge))
    page.click("#approve")
    page.wait_for_url(starts_with(world.demo.acme_url + "/authorize?"))
    sign_in_and_allow_at_acme(page)
    page.wait_for_url(starts_with(world.client.redirect_uri + "?"))
    return query(page.url)


# --- tests ------------------------------------------------------------------------------------------------------


def test_legitimate_flow_in_chromium(world: World, chromium: Chromium, tmp_path: Path) -> None:
    demo, client = world.demo, world.client
    client_id = world.register("Legit Assistant", client.redirect_uri)
    verifier, challenge = pkce()
    page = chromium.page()

    # A client_name smuggled into the query string is ignored: the page shows the registered name.
    url = world.authorize_url(client_id, client.redirect_uri, challenge, client_name="Evil")
    shown = open_consent(page, url)
    assert page.locator("#client-name").inner_text() == "Legit Assistant"
    assert "Evil" not in page.content()
    # The emphasised host carries the port: a loopback redirect may vary only its port.
    assert page.locator("#redirect-host").inner_text() == urlsplit(client.redirect_uri).netloc
    assert page.locator("#redirect-uri").inner_text() == client.redirect_uri
    assert page.locator("#unverified-warning").is_visible()
    assert page.locator("#loopback-warning").is_visible()
    page.screenshot(path=tmp_path / "consent.png", full_page=True)

    # Showing the page set the CSRF cookie and nothing else; nothing went upstream yet.
    assert not any(h.startswith(BINDING_COOKIE + "=") for h in set_cookie_headers(shown))
    assert cookie(page, BINDING_COOKIE) is None
    csrf = cookie(page, CSRF_COOKIE)
    assert csrf is not None
    assert csrf["expires"] == -1  # a session cookie
    assert demo.acme_stats.authorize_requests == 0

    with page.expect_response(demo.deputy_url + "/consent") as approved:
        page.click("#approve")
    page.wait_for_url(starts_with(demo.acme_url + "/authorize?"))
    assert approved.value.status == 303
    assert page.locator("#username").is_visible()  # Acme's sign-in page
    binding_headers = [h for h in set_cookie_headers(approved.value) if h.startswith(BINDING_COOKIE + "=")]
    assert len(binding_headers) == 1
    assert "domain=" not in binding_headers[0].lower()
    binding = cookie(page, BINDING_COOKIE)
    assert binding is not None
    assert 0 < binding["expires"] - time.time() <= demo.settings.lifetimes.flow + 5
    for c in (csrf, binding):
        assert (c["secure"], c["httpOnly"], c["sameSite"], c["path"]) == (True, True, "Lax", "/"), c
        assert c["domain"] == "127.0.0.1", c  # host-only: no Domain attribute, no leading dot

    sign_in_and_allow_at_acme(page)
    page.wait_for_url(starts_with(client.redirect_uri + "?"))
    params = query(page.url)
    assert client.callbacks() == [params]
    assert params["state"] == STATE
    assert params["iss"] == demo.issuer
    assert "error" not in params
    assert cookie(page, BINDING_COOKIE) is None  # spent: the callback cleared it
    assert cookie(page, SESSION_COOKIE) is not None

    r = world.http.post(demo.deputy_url + "/token", data={
        "grant_type": "authorization_code", "code": params["code"], "redirect_uri": client.redirect_uri,
        "client_id": client_id, "code_verifier": verifier, "resource": demo.resource})  # fmt: skip
    assert r.status_code == 200, r.text
    tokens = r.json()
    assert tokens["access_token"]
    assert tokens["token_type"].lower() == "bearer"


def test_confused_deputy_replay_in_chromium(world: World, chromium: Chromium) -> None:
    demo, stats, attacker = world.demo, world.demo.acme_stats, world.attacker
    victim = chromium.page()

    # The victim connects a legitimate client; Acme remembers the consent for Deputy's (static) client.
    legit = world.register("Legit Assistant", world.client.redirect_uri)
    assert "code" in first_connection(victim, world, legit, pkce()[1])
    assert cookie(victim, ACME_CONSENT_COOKIE) is not None
    assert stats.consent_pages_shown == 1

    # Precondition of the attack: a repeat authorization at Acme is now silent (Deputy itself still asks).
    open_consent(victim, world.authorize_url(legit, world.client.redirect_uri, pkce()[1]))
    victim.click("#approve")
    victim.wait_for_url(starts_with(world.client.redirect_uri + "?"))
    assert "code" in query(victim.url)
    assert (stats.consent_pages_shown, stats.consent_skipped, stats.login_pages_shown) == (1, 1, 1)

    # The attacker registers its own client and gets the victim to open its authorization link.
    evil = world.register("Helpful Assistant", attacker.redirect_uri)
    _, challenge = pkce()
    attack_url = world.authorize_url(evil, attacker.redirect_uri, challenge)
    assert cookie(victim, BINDING_COOKIE) is None
    upstream_before, codes_before = stats.authorize_requests, stats.codes_issued

    shown = open_consent(victim, attack_url)  # Deputy's consent page, not a redirect anywhere
    assert victim.locator("#client-name").inner_text() == "Helpful Assistant"
    assert victim.locator("#redirect-host").inner_text() == urlsplit(attacker.redirect_uri).netloc
    assert victim.locator("#redirect-uri").inner_text() == attacker.redirect_uri
    assert victim.locator("#unverified-warning").is_visible()
    assert victim.locator("#signed-in-user").is_visible()  # Deputy knows the victim, and still asks
    assert stats.authorize_requests == upstream_before  # nothing went upstream
    assert not any(h.startswith(BINDING_COOKIE + "=") for h in set_cookie_headers(shown))
    assert cookie(victim, BINDING_COOKIE) is None
    assert attacker.requests == []

    victim.click("#deny")
    victim.wait_for_url(starts_with(attacker.redirect_uri + "?"))
    assert attacker.requests == [("/cb", query(victim.url))]
    (denied,) = attacker.callbacks()
    assert denied["error"] == "access_denied"
    assert denied["state"] == STATE
    assert denied["iss"] == demo.issuer
    assert "code" not in denied
    assert (stats.authorize_requests, stats.codes_issued) == (upstream_before, codes_before)
    assert cookie(victim, BINDING_COOKIE) is None


def test_consent_page_cannot_be_framed(world: World, chromium: Chromium) -> None:
    demo, attacker = world.demo, world.attacker
    client_id = world.register("Framed Assistant", world.client.redirect_uri)
    url = world.authorize_url(client_id, world.client.redirect_uri, pkce()[1])
    # Two frames: Deputy's consent page, and a frameable page as a control that framing works in this setup.
    attacker.pages["/frame"] = (
        f'<iframe id="deputy" src="{html.escape(url)}"></iframe>'
        f'<iframe id="control" src="{html.escape(world.client.url)}/framed"></iframe>'
    )
    page = chromium.page()
    with page.expect_response(url_starts(demo.deputy_url + "/authorize?")) as framed:
        page.goto(attacker.url + "/frame")
    assert framed.value.status == 200  # Deputy served the page; the browser refused to show it in a frame
    csp = framed.value.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp
    assert framed.value.headers["x-frame-options"] == "DENY"

    control = page.locator("#control").element_handle().content_frame()
    assert control is not None
    control.wait_for_selector("#landed")  # the control frame rendered
    deputy = page.locator("#deputy").element_handle().content_frame()
    assert deputy is not None
    assert deputy.query_selector("#approve") is None
    assert deputy.query_selector("#client-name") is None
    assert not deputy.url.startswith(demo.deputy_url)

    direct = world.http.get(url)
    assert direct.status_code == 200
    assert "frame-ancestors 'none'" in direct.headers["content-security-policy"]
    assert direct.headers["x-frame-options"] == "DENY"


def test_cross_browser_callback_refused_in_chromium(world: World, chromium: Chromium) -> None:
    demo, stats, client = world.demo, world.demo.acme_stats, world.client
    client_id = world.register("Legit Assistant", client.redirect_uri)

    # Browser A (the attacker) approves at Deputy and captures the upstream authorization URL it is sent to.
    attacker = chromium.page()
    open_consent(attacker, world.authorize_url(client_id, client.redirect_uri, pkce()[1]))
    with attacker.expect_request(url_starts(demo.acme_url + "/authorize?")) as upstream:
        attacker.click("#approve")
    upstream_url = upstream.value.url
    previous = upstream.value.redirected_from
    assert previous is not None and previous.url == demo.deputy_url + "/consent"
    assert cookie(attacker, BINDING_COOKIE) is not None  # A holds the binding; B never will

    # Browser B (the victim) is lured to that URL and completes Acme in good faith.
    victim = chromium.page()
    victim.goto(upstream_url)
    with victim.expect_response(url_starts(demo.deputy_url + "/callback?")) as callback:
        sign_in_and_allow_at_acme(victim)
    victim.wait_for_url(starts_with(demo.deputy_url + "/callback?"))
    assert callback.value.status == 403
    assert victim.locator("#error-title").is_visible()
    assert "different browser" in victim.locator("#error-message").inner_text()
    assert "code" in query(victim.url)  # Acme did issue its code to Deputy...
    assert stats.token_requests["authorization_code"] == 0  # ...which Deputy never redeemed
    assert client.requests == []  # and no code of Deputy's reached the client
