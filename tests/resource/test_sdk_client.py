"""The official MCP Python SDK client, unmodified, against `deputy demo` on loopback: discovery from the MCP URL
alone, dynamic registration, Deputy's consent (approved by a headless browser), Acme sign-in, tools, refresh."""

from __future__ import annotations

import time
from pathlib import Path

import httpx2
import pytest
from mcp.client import Client
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientMetadata
from pydantic import AnyUrl

from headless import HeadlessBrowser, MemoryTokenStorage
from live import start_demo

pytestmark = pytest.mark.anyio

REDIRECT = "http://127.0.0.1:33418/callback"  # never contacted: the headless browser stops there


class Agent:
    """The callbacks the SDK asks for: open the authorization URL, then hand back what arrived at the redirect."""

    def __init__(self) -> None:
        self.browser = HeadlessBrowser()
        self.result: dict[str, str] | None = None
        self.authorizations = 0

    async def redirect_handler(self, url: str) -> None:
        self.authorizations += 1
        self.result = await self.browser.authorize(url, REDIRECT)

    async def callback_handler(self) -> AuthorizationCodeResult:
        assert self.result is not None
        result, self.result = self.result, None
        return AuthorizationCodeResult(code=result["code"], state=result.get("state"), iss=result.get("iss"))


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_stock_sdk_client_discovers_authorizes_calls_and_refreshes(tmp_path: Path, mode: str) -> None:
    """``legacy`` is the 2025-11-25 initialize handshake; ``2026-07-28`` the stateless revision."""
    with start_demo(tmp_path, intents=False) as demo:
        mcp_url = demo.resource
        agent, storage = Agent(), MemoryTokenStorage()
        oauth = OAuthClientProvider(
            server_url=mcp_url,
            client_metadata=OAuthClientMetadata(
                client_name="SDK acceptance client",
                redirect_uris=[AnyUrl(REDIRECT)],
                grant_types=["authorization_code", "refresh_token"],
                response_types=["code"],
                token_endpoint_auth_method="none",
            ),
            storage=storage,
            redirect_handler=agent.redirect_handler,
            callback_handler=agent.callback_handler,
        )
        async with (
            httpx2.AsyncClient(auth=oauth, timeout=httpx2.Timeout(30.0)) as http,
            Client(streamable_http_client(mcp_url, http_client=http), mode=mode) as client,
        ):
            tools = await client.list_tools()
            names = {t.name for t in tools.tools}
            assert {"contacts_search", "contacts_create"} <= names
            found = await client.call_tool("contacts_search", {"q": "a"})
            assert not found.is_error and found.structured_content
            created = await client.call_tool("contacts_create", {"name": "Grace Hopper", "email": "grace@example.com"})
            assert not created.is_error, created.content
            first_refresh = storage.tokens.refresh_token if storage.tokens else None
            oauth.context.token_expiry_time = time.time() - 1  # force the SDK to refresh before the next call
            again = await client.call_tool("contacts_search", {"q": "Grace"})
            assert not again.is_error
            assert storage.tokens is not None and storage.tokens.refresh_token != first_refresh
        assert agent.authorizations == 1
        assert agent.browser.pages[0] == "deputy-consent"  # Deputy asked before anything went upstream
        assert storage.client_info is not None and storage.client_info.client_id.startswith("dcl_")
