"""``create_app(settings)``: the one place where keys, storage, services and routes are wired together."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import httpx
from sqlalchemy.exc import OperationalError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from deputy.broker.rotation import KeyRingWatcher, check_vault_keys, load_key_ring, make_vault, run_key_maintenance
from deputy.clock import Clock, SystemClock
from deputy.config import Settings
from deputy.http.access_log import install_access_log_redaction
from deputy.http.deps import Deps
from deputy.http.endpoints import apps, authorize, callback, confirm, health, metadata, register, revoke, token
from deputy.http.metrics import metrics
from deputy.http.middleware import BodyLimitMiddleware, SecurityHeadersMiddleware
from deputy.http.request_id import SCOPE_KEY, RequestIdMiddleware
from deputy.metrics import install_audit_metrics
from deputy.oauth.models import Client, ClientKind
from deputy.resource.app import McpEndpoint
from deputy.service.context import ServiceContext
from deputy.service.registration import CLIENT_SECRET
from deputy.storage.sql.audit import CHAIN_REVISION
from deputy.storage.sql.engine import Database
from deputy.storage.sql.store import SqlStore

__all__ = ["build_context", "create_app"]

log = logging.getLogger("deputy")


def build_context(settings: Settings, *, clock: Clock | None = None, migrate: bool = True) -> ServiceContext:
    """Load keys, open (and migrate) the database, and write the pre-registered clients.

    Raises:
        ConfigError: unusable key ring or storage URL.
    """
    clock = clock or SystemClock()
    keys = load_key_ring(settings.keys, clock.now())
    watcher = KeyRingWatcher(keys, settings.keys)
    db = Database(settings.storage.url)
    before = db.migrate() if migrate else None
    vault = make_vault(keys, watcher)
    ctx = ServiceContext(
        settings=settings, keys=keys, store=SqlStore(db, keys), vault=vault, clock=clock, key_watcher=watcher
    )
    if migrate:
        check_vault_keys(ctx.store, vault, keys)
        introduced = before is not None and before < CHAIN_REVISION  # upgraded from an unchained log just now
        with ctx.store.write() as tx:
            tx.audit.sign_unsigned_head(chain_just_introduced=introduced)
    _sync_static_clients(ctx)
    return ctx


def _sync_static_clients(ctx: ServiceContext) -> None:
    now = ctx.clock.now()
    with ctx.store.write() as tx:
        for c in ctx.settings.clients:
            secret = c.client_secret.get_secret_value() if c.client_secret else None
            tx.clients.upsert_static(
                Client(
                    client_id=c.client_id,
                    client_name=c.client_name,
                    redirect_uris=c.redirect_uris,
                    token_endpoint_auth_method=c.token_endpoint_auth_method,
                    kind=ClientKind.STATIC,
                    created_at=now,
                    secret_hash=ctx.keys.keyed_hash(CLIENT_SECRET, secret) if secret else None,
                    scope=tuple(c.scope.split()) if c.scope else None,
                )
            )


async def _database_unavailable(request: Request, exc: Exception) -> Response:
    log.warning("database unavailable: %s", type(exc).__name__)
    body = {"error": "temporarily_unavailable", "error_description": "storage is unavailable; retry shortly"}
    return JSONResponse(body, status_code=503, headers={"Retry-After": "1", "Cache-Control": "no-store"})


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s", request.url.path)
    body = {"error": "server_error", "error_description": "unexpected error"}
    # This handler runs outside the middleware stack, so the request id is added here.
    request_id = {"X-Request-Id": request.scope[SCOPE_KEY]} if SCOPE_KEY in request.scope else {}
    return JSONResponse(body, status_code=500, headers={"Cache-Control": "no-store", **request_id})


def routes() -> list[Route | Mount]:
    static = Path(__file__).parent / "http" / "static"
    return [
        Route("/.well-known/oauth-authorization-server", metadata.authorization_server, methods=["GET"]),
        Route("/jwks", metadata.jwks, methods=["GET"]),
        Route("/register", register.register, methods=["POST"]),
        Route("/authorize", authorize.authorize, methods=["GET"]),
        Route("/consent", authorize.consent, methods=["POST"]),
        Route("/apps", apps.apps, methods=["GET"]),
        Route("/apps/revoke", apps.revoke, methods=["POST"]),
        Route("/confirm/{draft_id}", confirm.show, methods=["GET"]),
        Route("/confirm/{draft_id}", confirm.confirm, methods=["POST"]),
        Route("/callback", callback.callback, methods=["GET"]),
        Route("/token", token.token, methods=["POST"]),
        Route("/revoke", revoke.revoke, methods=["POST"]),
        Route("/healthz", health.healthz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Mount("/static", StaticFiles(directory=static), name="static"),
    ]


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    http: httpx.AsyncClient | None = None,
    ctx: ServiceContext | None = None,
) -> Starlette:
    """Build the ASGI app. ``http`` is the client used towards the upstream (tests pass an in-process one)."""
    ctx = ctx or build_context(settings, clock=clock)
    install_access_log_redaction()
    install_audit_metrics()
    upstream_http = http or httpx.AsyncClient(follow_redirects=False, timeout=settings.upstream.timeout_seconds)
    deps = Deps(ctx, upstream_http)
    mcp = McpEndpoint(ctx, upstream_http, upstream=deps.upstream, run=deps.run)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with mcp.lifespan(), anyio.create_task_group() as tasks:
            tasks.start_soon(run_key_maintenance, ctx)
            yield
            tasks.cancel_scope.cancel()
        await upstream_http.aclose()
        ctx.store.db.dispose()

    # X-Forwarded-* is honoured only from configured proxies; with none configured the middleware is left out.
    proxies = [Middleware(ProxyHeadersMiddleware, trusted_hosts=list(settings.server.trusted_proxies))]
    middleware = [
        Middleware(RequestIdMiddleware),
        *(proxies if settings.server.trusted_proxies else []),
        Middleware(SecurityHeadersMiddleware),
        Middleware(
            BodyLimitMiddleware,
            limit=settings.server.max_body_bytes,
            html_paths=frozenset({"/consent", "/apps/revoke", "/confirm/"}),
        ),
    ]
    app = Starlette(
        # The MCP routes first: Starlette tries routes in order, and /mcp is by far the hottest path.
        routes=[*mcp.routes(), *routes(), Route("/readyz", health.Readiness(ctx).readyz, methods=["GET"])],
        middleware=middleware,
        lifespan=lifespan,
        exception_handlers={OperationalError: _database_unavailable, Exception: _unexpected},
    )
    app.state.deps = deps
    app.state.mcp = mcp
    return app
