"""Assembly of the Acme CRM ASGI app from its endpoint groups."""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from deputy.clock import Clock, SystemClock

from .api import api_routes
from .browser import BrowserEndpoints
from .context import AcmeContext
from .discovery import DiscoveryEndpoints
from .errors import AcmeHTTPError, handle_acme_error, handle_http_exception
from .limits import BodySizeLimit
from .openapi import openapi_document
from .pages import Pages
from .seed import seed_user
from .settings import AcmeSettings
from .stats import AcmeStats
from .store import AcmeStore
from .token import TokenEndpoints

_STATIC_DIR = Path(__file__).parent / "static"


def create_acme_app(settings: AcmeSettings, *, clock: Clock | None = None) -> Starlette:
    """Build a fresh provider; every call has its own store, so tests never share state."""
    store = AcmeStore(clock or SystemClock(), settings.access_token_ttl)
    if settings.seed:
        for user in settings.users:
            seed_user(store.records, user)
    ctx = AcmeContext(settings, store, AcmeStats(), Pages())
    app = Starlette(
        routes=_routes(ctx),
        middleware=[Middleware(BodySizeLimit)],
        exception_handlers={AcmeHTTPError: handle_acme_error, HTTPException: handle_http_exception},
    )
    app.state.acme_settings = settings
    app.state.acme_store = store
    app.state.acme_stats = ctx.stats
    return app


def _routes(ctx: AcmeContext) -> list[BaseRoute]:
    document = openapi_document(ctx.settings)

    async def openapi(request: Request) -> Response:
        return JSONResponse(document)

    return [
        *DiscoveryEndpoints(ctx).routes(),
        *BrowserEndpoints(ctx).routes(),
        *TokenEndpoints(ctx).routes(),
        Route("/openapi.json", openapi, methods=["GET"]),
        *api_routes(ctx),
        Mount("/static", StaticFiles(directory=_STATIC_DIR), name="static"),
    ]
