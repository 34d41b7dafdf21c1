"""The demo MCP client of `deputy demo`: connect through Deputy's consent, then call an MCP tool, on loopback."""

from __future__ import annotations

import html
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest

from deputy.demo.client import create_demo_client
from headless import HeadlessBrowser
from live import bind_loopback, start_demo

pytestmark = pytest.mark.anyio


async def test_demo_client_connects_and_calls_a_tool(tmp_path: Path) -> None:
    sock = bind_loopback()
    client_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    app_holder: dict[str, object] = {}  # the client needs Deputy's URL, known only once the demo is up
    with start_demo(tmp_path, extra=[(_late(app_holder), sock)]) as demo:
        app_holder["app"] = create_demo_client(client_url, demo.deputy_url)
        browser = HeadlessBrowser()
        query = await browser.authorize(client_url + "/connect", client_url + "/callback")
        assert browser.pages[0] == "deputy-consent"
        async with httpx.AsyncClient(base_url=client_url, follow_redirects=True, timeout=30) as http:
            page = await http.get("/callback?" + urlencode(query))
            assert 'id="connected"' in page.text and demo.resource in page.text
            result = await http.post("/search", data={"q": "a"})
        shown = html.unescape(result.text)
        assert '"isError": false' in shown and '"items"' in shown


def _late(holder: dict[str, object]) -> object:
    """An ASGI app that forwards to the app put into ``holder`` once the demo's URLs are known."""

    async def app(scope: dict[str, object], receive: object, send: object) -> None:
        inner = holder.get("app")
        if scope["type"] == "lifespan":
            message = await receive()  # type: ignore[operator]
            await send({"type": "lifespan.startup.complete"})  # type: ignore[operator]
            del message
            await receive()  # type: ignore[operator]
            await send({"type": "lifespan.shutdown.complete"})  # type: ignore[operator]
            return
        await inner(scope, receive, send)  # type: ignore[operator]

    return app
