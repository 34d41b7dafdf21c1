"""The user's applications page and remembered consent in a real browser: headless Chromium against Deputy and
Acme CRM served by uvicorn on loopback (see test_consent_browser.py for the setup and the Chromium rules).

What only a browser can show: that a click on Revoke passes Deputy's Origin and Fetch Metadata checks and ends the
application's tokens at the real MCP endpoint and token endpoint; that Chromium labels a navigation the user starts
``Sec-Fetch-Site: none`` (so a remembered consent skips the page) and one started by a link on another site
``cross-site`` (so it does not: FastMCP GHSA-6x8h-498w-gv8c).
"""

from __future__ import annotations

import html
import json
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Page
from test_consent_browser import (
    BINDING_COOKIE,
    CHROMIUM,
    CHROMIUM_REQUIRED,
    HTTP_TIMEOUT_S,
    Chromium,
    Listener,
    World,
    cookie,
    first_connection,
    pkce,
    query,
    starts_with,
    url_starts,
)

from live import start_demo

pytestmark = pytest.mark.browser

MCP_HEADERS = {"accept": "application/json, text/event-stream", "content-type": "application/json",
               "mcp-protocol-version": "2025-11-25"}  # fmt: skip
REVOCATION_DEADLINE_S = 10.0  # so that a broken revocation fails rather than hangs; the bound is tested in-process


@pytest.fixture(autouse=True)
def _require_chromium() -> None:
    if not CHROMIUM.exists() and not CHROMIUM_REQUIRED:
        pytest.skip("Chromium not installed: apt-get install chromium")


def _world(tmp_path: Path) -> Iterator[World]:
    client, attacker = Listener("Client app"), Listener("Attacker")
    extra = [(client.app, client.socket), (attacker.app, attacker.socket)]
    with (
        start_demo(tmp_path / "deputy", extra=extra) as demo,
        httpx.Client(timeout=HTTP_TIMEOUT_S, follow_redirects=False) as http,
    ):
        yield World(demo, client, attacker, http)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    yield from _world(tmp_path)


@pytest.fixture
def remembering_world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    monkeypatch.setenv("DEPUTY_CONSENT__PROMPT", "remember")
    yield from _world(tmp_path)


@pytest.fixture
def chromium() -> Iterator[Chromium]:
    browser = Chromium()
    try:
        yield browser
    finally:
        browser.close()


def connect_and_redeem(world: World, chromium: Chromium) -> tuple[str, dict[str, str], Page]:
    """The user connects a client in Chromium; the client redeems its code. Returns client_id, tokens and page."""
    client_id = world.register("Legit Assistant", world.client.redirect_uri)
    verifier, challenge = pkce()
    page = chromium.page()
    params = first_connection(page, world, client_id, challenge)
    r = world.http.post(world.demo.deputy_url + "/token", data={
        "grant_type": "authorization_code", "code": params["code"], "redirect_uri": world.client.redirect_uri,
        "client_id": client_id, "code_verifier": verifier, "resource": world.demo.resource})  # fmt: skip
    assert r.status_code == 200, r.text
    return client_id, dict(r.json()), page


def tools_list(world: World, access_token: str) -> httpx.Response:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    headers = {**MCP_HEADERS, "authorization": f"Bearer {access_token}"}
    return world.http.post(world.demo.resource, content=json.dumps(body), headers=headers)


def test_revoke_in_chromium_ends_the_applications_tokens(world: World, chromium: Chromium) -> None:
    demo = world.demo
    client_id, tokens, page = connect_and_redeem(world, chromium)
    assert tools_list(world, tokens["access_token"]).status_code == 200

    page.goto(demo.deputy_url + "/apps")
    app = page.locator(f'section[data-client-id="{client_id}"]')
    assert app.locator(".app-name").inner_text() == "Legit Assistant"
    assert "self-asserted" in app.locator(".app-identity").inner_text()
    assert app.locator(".redirect-host").inner_text() == urlsplit(world.client.redirect_uri).netloc
    assert app.locator(".scopes").inner_text().split() == ["crm.read"]

    with page.expect_request(url_starts(demo.deputy_url + "/apps/revoke")) as posted:
        app.locator("button.revoke").click()
    page.wait_for_selector("#no-apps")
    sent = posted.value.all_headers()
    assert sent["sec-fetch-site"] == "same-origin" and sent["origin"] in ("null", demo.deputy_url)
    assert posted.value.response() is not None and posted.value.response().status == 303  # type: ignore[union-attr]

    deadline = time.monotonic() + REVOCATION_DEADLINE_S
    while (status := tools_list(world, tokens["access_token"]).status_code) == 200 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert status == 401
    r = world.http.post(demo.deputy_url + "/token", data={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": client_id})  # fmt: skip
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


def test_remembered_consent_in_chromium_only_for_a_navigation_the_user_started(
    remembering_world: World, chromium: Chromium
) -> None:
    world = remembering_world
    demo, stats, client = world.demo, world.demo.acme_stats, world.client
    client_id = world.register("Legit Assistant", client.redirect_uri)
    page = chromium.page()
    assert "code" in first_connection(page, world, client_id, pkce()[1])  # approved on the page, remembered

    # Opened by the user (or by the application, through the system browser): no page, a code at once.
    url = world.authorize_url(client_id, client.redirect_uri, pkce()[1])
    with page.expect_request(url_starts(demo.deputy_url + "/authorize?")) as opened:
        page.goto(url)
    page.wait_for_url(starts_with(client.redirect_uri + "?"))
    assert opened.value.all_headers()["sec-fetch-site"] == "none"
    assert opened.value.response() is not None and opened.value.response().status == 302  # type: ignore[union-attr]
    assert "code" in query(page.url) and len(client.callbacks()) == 2
    page.goto(demo.deputy_url + "/apps")
    assert page.locator(f'section[data-client-id="{client_id}"] .remember-until').is_visible()

    # The same link on another site (another host: localhost, not 127.0.0.1): the page, nothing upstream.
    attack_url = world.authorize_url(client_id, client.redirect_uri, pkce()[1])
    world.attacker.pages["/attack"] = f'<a id="go" href="{html.escape(attack_url)}">Open your assistant</a>'
    upstream_before = stats.authorize_requests
    page.goto(world.attacker.url.replace("127.0.0.1", "localhost") + "/attack")
    with page.expect_request(url_starts(demo.deputy_url + "/authorize?")) as lured:
        page.click("#go")
    page.wait_for_selector("#approve")
    assert lured.value.all_headers()["sec-fetch-site"] == "cross-site"
    assert page.url == attack_url and page.locator("#client-name").inner_text() == "Legit Assistant"
    assert stats.authorize_requests == upstream_before and cookie(page, BINDING_COOKIE) is None
    assert len(client.callbacks()) == 2  # no code reached the client
