"""The confirmation page in real headless Chromium: the user who connected the client in this browser opens the
link, sees the operation and clicks Approve; only then does the commit run. Chromium: /usr/bin/chromium; without
it the test skips, unless DEPUTY_TEST_CHROMIUM=1 (CI), in which case a Chromium that does not launch fails it."""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest
from playwright.sync_api import Page, sync_playwright
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
MCP_HEADERS = {
    "accept": "application/json, text/event-stream",
    "content-type": "application/json",
    "mcp-protocol-version": "2025-11-25",
}


@pytest.fixture(autouse=True)
def _require_chromium() -> None:
    if not CHROMIUM.exists() and not CHROMIUM_REQUIRED:
        pytest.skip("Chromium not installed: apt-get install chromium")


@pytest.fixture
def page() -> Iterator[Page]:
    try:
        playwright = sync_playwright().start()
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=30_000)
    except Exception as exc:
        pytest.fail(f"Chromium did not launch from {CHROMIUM}: {exc}")
    context = browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()
        browser.close()
        playwright.stop()


async def _landing(request: Request) -> HTMLResponse:
    return HTMLResponse('<!doctype html><html><head><link rel="icon" href="data:,"></head><body>ok</body></html>')


def _connect(page: Page, demo: DemoServers, http: httpx.Client, redirect_uri: str) -> str:
    """The user connects a client in this browser (Deputy consent, Acme sign-in and consent); its access token."""
    registration = {"client_name": "Chromium Assistant", "redirect_uris": [redirect_uri]}
    client_id = http.post(demo.issuer + "/register", json=registration).json()["client_id"]
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "state": "s",
             "code_challenge": challenge, "code_challenge_method": "S256", "scope": "crm.read crm.write",
             "resource": demo.resource}  # fmt: skip
    page.goto(demo.issuer + "/authorize?" + urlencode(query))
    page.click("#approve")
    page.fill("#username", "alice")
    page.fill("#password", "alice-password")
    page.click("button[type=submit]")
    page.click("button[value=approve]")
    page.wait_for_url(lambda url: url.startswith(redirect_uri))
    code = dict(parse_qsl(urlsplit(page.url).query))["code"]
    r = http.post(demo.issuer + "/token", data={"grant_type": "authorization_code", "code": code,
                  "redirect_uri": redirect_uri, "client_id": client_id, "code_verifier": verifier,
                  "resource": demo.resource})  # fmt: skip
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


def _call(http: httpx.Client, demo: DemoServers, token: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name, "arguments": arguments}}
    r = http.post(demo.resource, json=body, headers={**MCP_HEADERS, "authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()["result"]
    return result


def _contacts(demo: DemoServers, name: str) -> int:
    store = demo.acme_app.state.acme_store
    owner = next(u.user_id for u in demo.acme_settings.users if u.username == "alice")
    return sum(1 for r in store.records.page("contacts", owner, 0, 10_000).items if r.fields.get("name") == name)


def test_the_user_approves_in_chromium_and_only_then_the_commit_runs(page: Page, tmp_path: Path) -> None:
    sock = bind_loopback()
    redirect_uri = f"http://127.0.0.1:{sock.getsockname()[1]}/cb"
    listener = Starlette(routes=[Route("/{path:path}", _landing)])
    with start_demo(tmp_path, extra=[(listener, sock)]) as demo, httpx.Client(timeout=10) as http:
        token = _connect(page, demo, http, redirect_uri)
        drafted = _call(http, demo, token, "contacts_create", {"name": "Katherine Johnson", "company": "NASA"})
        data = drafted["structuredContent"]
        assert data["status"] == "confirmation_required"

        early = _call(http, demo, token, "contacts_create", data["commit_arguments"])
        assert early["structuredContent"]["status"] == "confirmation_required"  # not approved yet
        assert _contacts(demo, "Katherine Johnson") == 0

        response = page.goto(data["confirmation_url"])
        assert response is not None and response.status == 200
        assert response.headers["x-frame-options"] == "DENY"
        assert '"Katherine Johnson"' in page.locator("#arguments").inner_text()
        assert page.locator("#http-method").inner_text() == "POST"
        assert page.locator("#target").inner_text() == demo.acme_url + "/api/v1/contacts"
        assert page.locator("#client-name").inner_text() == "Chromium Assistant"
        page.screenshot(path=tmp_path / "confirm.png", full_page=True)
        with page.expect_response(data["confirmation_url"]) as posted:
            page.click("#approve")
        assert posted.value.status == 200
        assert page.locator("#result").inner_text() == "Approved"

        committed = _call(http, demo, token, "contacts_create", data["commit_arguments"])
        assert committed["isError"] is False and committed["structuredContent"]["company"] == "NASA"
        assert _contacts(demo, "Katherine Johnson") == 1
        again = _call(http, demo, token, "contacts_create", data["commit_arguments"])
        assert again["isError"] is True
        assert _contacts(demo, "Katherine Johnson") == 1
