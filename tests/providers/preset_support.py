"""Deputy in-process in front of a fake provider on a real loopback server, for the preset tests.

Deputy, its MCP clients and the scripted browser run in-process exactly as in ``support.Env``; the fake provider
(``fakes/``) runs under uvicorn on 127.0.0.1 (``live.LiveServers``), and both the browser and Deputy's upstream
HTTP client reach it over real sockets. The preset's endpoints are pointed at the fake with ordinary operator
overrides, which is also how the tests show that explicit settings beat preset defaults.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fakes.fake_base import FakeProvider, Refresh
from sqlalchemy import text
from starlette.types import ASGIApp

from deputy.app import build_context, create_app
from deputy.clock import FrozenClock
from deputy.config import load_settings
from live import LOOPBACK, LiveServers, bind_loopback
from support import APP_REDIRECT, DEPUTY, RESOURCE, Env, Router, Trip, pkce

CALLBACK = DEPUTY + "/callback"
CLIENT_ID = "deputy-test-client"
CLIENT_SECRET = "fake-provider-secret-for-tests"


class LoopbackRouter(Router):
    """In-process apps by host name, and the loopback network for everything on 127.0.0.1 (the fake provider)."""

    def __init__(self, apps: dict[str, ASGIApp], client_ip: str) -> None:
        super().__init__(apps, client_ip)
        self._network = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.host == LOOPBACK:
            return await self._network.handle_async_request(request)
        return await super().handle_async_request(request)

    async def aclose(self) -> None:
        await self._network.aclose()


@dataclass
class PresetEnv(Env):
    """``support.Env`` whose browser and clients can also reach the loopback fake provider."""

    def router(self) -> Router:
        return LoopbackRouter({"deputy.example": self.app}, self.client_ip)

    def subjects(self) -> list[str]:
        """The upstream user ids Deputy has stored, as the provider identified its users."""
        with self.ctx.store.read() as tx:
            rows = tx.conn.exec_driver_sql("SELECT upstream_subject FROM users").fetchall()
        return [str(row[0]) for row in rows]

    def user_id(self, subject: str) -> str:
        with self.ctx.store.read() as tx:
            row = tx.conn.execute(text("SELECT user_id FROM users WHERE upstream_subject = :s"), {"s": subject}).one()
        return str(row[0])

    def audit_events(self) -> list[dict[str, Any]]:
        with self.ctx.store.read() as tx:
            return [dict(e) for e in tx.audit.events()]

    async def refresh_upstream(self, subject: str) -> str:
        """Make Deputy's broker refresh this user's upstream token now; returns the new access token.

        Raises:
            ToolCallError: as the broker does (``reauthorize`` when the provider refuses).
        """
        credentials = self.app.state.mcp.credentials
        token: str = await credentials.refreshed_access_token(self.user_id(subject))
        return token

    async def upstream_access_token(self, subject: str) -> str:
        """The upstream access token the broker would put into a tool's API call for this user."""
        token: str = await self.app.state.mcp.credentials.access_token(self.user_id(subject))
        return token

    async def failed_flow(self) -> Trip:
        """A flow the upstream makes fail: the client must land on its redirect URI with an error, not a 500."""
        client = await self.register()
        _, challenge = pkce()
        async with self.browser() as browser:
            return await self.drive(browser, self.authorize_url(client["client_id"], challenge))


@contextlib.contextmanager
def serve(
    build: Callable[..., ASGIApp],
    *,
    user: dict[str, Any],
    refresh: Refresh = "rotating",
    prefix: str = "fake",
    **options: Any,
) -> Iterator[FakeProvider]:
    """Run the fake built by ``build`` on a free loopback port until the block exits."""
    sock = bind_loopback()
    fake = FakeProvider(
        f"http://{LOOPBACK}:{sock.getsockname()[1]}", CLIENT_ID, CLIENT_SECRET, dict(user), refresh, prefix
    )
    with LiveServers([(build(fake, **options), sock)]):
        yield fake


@contextlib.asynccontextmanager
async def preset_env(tmp_path: Path, upstream: dict[str, Any], scopes: dict[str, Any]) -> AsyncIterator[PresetEnv]:
    """Deputy configured with ``upstream`` (a preset plus overrides) and ``scopes``, its database in ``tmp_path``."""
    settings = load_settings(
        None,
        overrides={
            "server": {"base_url": DEPUTY},
            "storage": {"url": f"sqlite:///{tmp_path / 'deputy.db'}"},
            "keys": {"file": str(tmp_path / "keys.json"), "create_if_missing": True},
            "upstream": {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, **upstream},
            "scopes": scopes,
        },
    )
    clock = FrozenClock()
    ctx = build_context(settings, clock=clock)
    http = httpx.AsyncClient(follow_redirects=False, trust_env=False)
    app = create_app(settings, http=http, ctx=ctx)
    try:
        yield PresetEnv(settings, ctx, app, None, None, clock)  # type: ignore[arg-type]
    finally:
        await http.aclose()
        ctx.store.db.dispose()


__all__ = [
    "APP_REDIRECT",
    "CALLBACK",
    "CLIENT_ID",
    "CLIENT_SECRET",
    "RESOURCE",
    "LoopbackRouter",
    "PresetEnv",
    "preset_env",
    "serve",
]
