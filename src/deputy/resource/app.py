"""Wiring of the MCP endpoint: metadata routes, the gate, the SDK's streamable HTTP transport, the broker."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from deputy.audit.batch import AuditBatcher
from deputy.broker.credentials import VaultCredentials
from deputy.resource.auth import McpAuthMiddleware
from deputy.resource.catalogue import Catalogue, load_catalogue
from deputy.resource.downstream_tools import downstream_targets
from deputy.resource.fastpath import FastPath
from deputy.resource.metadata import metadata_url, protected_resource_metadata
from deputy.resource.rejections import RejectionTally
from deputy.resource.revocations import RevocationCache
from deputy.resource.server import ToolHandlers, build_mcp_server
from deputy.resource.upstream_api import BrokeredApiClient
from deputy.resource.verifier import TokenVerifier
from deputy.service.context import ServiceContext
from deputy.upstream.client import UpstreamClient

__all__ = ["McpEndpoint"]


class McpEndpoint:
    """Everything behind ``/mcp`` and its RFC 9728 metadata; ``lifespan()`` must wrap the app's lifetime."""

    def __init__(
        self,
        ctx: ServiceContext,
        http: httpx.AsyncClient,
        *,
        upstream: Callable[[], Awaitable[UpstreamClient]],
        run: Callable[..., Awaitable[Any]],
    ) -> None:
        settings = ctx.settings
        self.ctx = ctx
        self.catalogue = load_catalogue(settings.tools.catalogue) if settings.tools.catalogue else Catalogue(())
        self.revocations = RevocationCache(ctx, run)
        self.verifier = TokenVerifier(ctx, self.revocations)
        self.rejections = RejectionTally(ctx, run)
        self.credentials = VaultCredentials(ctx, upstream, run)
        api = BrokeredApiClient(
            http,
            settings.upstream.api_base_url or "",
            self.credentials,
            timeout=settings.tools.timeout_seconds,
            max_response_bytes=settings.tools.max_response_bytes,
            downstream=downstream_targets(ctx, self.catalogue, run),
            headers=settings.upstream.api_headers,
        )
        self.audit = AuditBatcher(ctx, run)
        self.handlers = ToolHandlers(ctx, self.catalogue, api, self.audit, run=run)
        server = build_mcp_server(ctx, self.handlers)
        host = urlsplit(settings.issuer).netloc
        security = TransportSecuritySettings(
            enable_dns_rebinding_protection=True,
            allowed_hosts=[host],
            allowed_origins=[_origin(settings.issuer), *settings.tools.allowed_origins],
        )
        self.manager = StreamableHTTPSessionManager(
            app=server, stateless=True, json_response=True, security_settings=security
        )
        self.gate = McpAuthMiddleware(
            FastPath(StreamableHTTPASGIApp(self.manager), self.handlers, allowed_host=host),
            verifier=self.verifier,
            resource=settings.resource_url,
            issuer=settings.issuer,
            challenge_scopes=settings.effective_default_scopes,
            tool_scope=self._tool_scope,
            max_body=settings.server.max_body_bytes,
            allowed_origins=settings.tools.allowed_origins,
            on_rejected=self.rejections.note,
        )

    def _tool_scope(self, name: str) -> str | None:
        spec = self.catalogue.get(name)
        return spec.scope if spec else None

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        async with self.manager.run(), anyio.create_task_group() as tasks:
            tasks.start_soon(self.rejections.run)
            yield
            tasks.cancel_scope.cancel()

    def routes(self) -> list[Route]:
        resource = self.ctx.settings.resource_url
        path = urlsplit(metadata_url(resource)).path
        return [
            Route(self.ctx.settings.server.mcp_path, self.gate, methods=["GET", "POST", "DELETE"]),
            Route("/.well-known/oauth-protected-resource", self._metadata, methods=["GET"]),
            Route(path, self._metadata, methods=["GET"]),
        ]

    async def _metadata(self, request: Request) -> Response:
        s = self.ctx.settings
        doc = protected_resource_metadata(s.resource_url, s.issuer, tuple(s.scopes), f"Deputy for {s.upstream.name}")
        return JSONResponse(doc, headers={"Cache-Control": "public, max-age=300", "Access-Control-Allow-Origin": "*"})


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
