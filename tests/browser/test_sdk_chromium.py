"""The stock MCP SDK client against `deputy demo`, with the consent approval clicked in real headless Chromium.

The SDK opens the authorization URL through its ``redirect_handler``; here that is Chromium (driven from a worker
thread, since Playwright's sync API needs a thread without an event loop), which shows Deputy's consent page, gets
the click, signs in at Acme CRM and lands at the client's loopback listener, from which the SDK takes the code.
"""

from __future__ import annotations

import time
from pathlib import Path

import anyio.to_thread
import httpx2
import pytest
from mcp.client import Client
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientMetadata
from playwright.sync_api import sync_playwright
from pydantic import AnyUrl
from test_consent_browser import CHROMIUM, CHROMIUM_ARGS, CHROMIUM_REQUIRED, TIMEOUT_MS, Listener

from headless import MemoryTokenStorage
from live import start_demo

pytestmark = [pytest.mark.browser, pytest.mark.anyio]


def approve_in_chromium(url: str, redirect_uri: str) -> tuple[str, list[str]]:
    """Open ``url``, click Allow on Deputy's page, sign in and allow at Acme; return the landing URL and titles."""
    titles: list[str] = []
    try:
        playwright = sync_playwright().start()
    except Exception as exc:  # pragma: no cover - environment problem
        pytest.fail(f"Playwright did not start: {exc}")
    try:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=30_000)
    except Exception as exc:
        playwright.stop()
        pytest.fail(f"Chromium did not launch from {CHROMIUM}: {exc}")
    try:
        page = browser.new_context().new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(url)
        titles.append(page.title())
        page.click("#approve")
        page.fill("#username", "alice")
        page.fill("#password", "alice-password")
        page.click("button[type=submit]")
        page.click("button[value=approve]")
        page.wait_for_url(lambda u: u.startswith(redirect_uri))
        return page.url, titles
    finally:
        browser.close()
        playwright.stop()


async def test_sdk_client_with_consent_clicked_in_chromium(tmp_path: Path) -> None:
    if not CHROMIUM.exists() and not CHROMIUM_REQUIRED:
        pytest.skip("Chromium not installed: apt-get install chromium")
    listener = Listener("MCP client")
    titles: list[str] = []

    async def redirect_handler(url: str) -> None:
        _, seen = await anyio.to_thread.run_sync(approve_in_chromium, url, listener.redirect_uri)
        titles.extend(seen)

    async def callback_handler() -> AuthorizationCodeResult:
        query = listener.callbacks()[-1]
        return AuthorizationCodeResult(code=query["code"], state=query.get("state"), iss=query.get("iss"))

    with start_demo(tmp_path, extra=[(listener.app, listener.socket)]) as demo:
        storage = MemoryTokenStorage()
        oauth = OAuthClientProvider(
            server_url=demo.resource,
            client_metadata=OAuthClientMetadata(
                client_name="Chromium SDK client",
                redirect_uris=[AnyUrl(listener.redirect_uri)],
                grant_types=["authorization_code", "refresh_token"],
                response_types=["code"],
                token_endpoint_auth_method="none",
            ),
            storage=storage,
            redirect_handler=redirect_handler,
            callback_handler=callback_handler,
        )
        async with (
            httpx2.AsyncClient(auth=oauth, timeout=httpx2.Timeout(60.0)) as http,
            Client(streamable_http_client(demo.resource, http_client=http), mode="legacy") as client,
        ):
            found = await client.call_tool("contacts_search", {"q": "a"})
            assert not found.is_error and found.structured_content
            oauth.context.token_expiry_time = time.time() - 1
            again = await client.call_tool("deputy_whoami", {})
            assert not again.is_error
    assert titles and titles[0].startswith("Allow Chromium SDK client")  # Deputy's consent page came first
    assert len(listener.callbacks()) == 1
