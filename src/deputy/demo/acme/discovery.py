"""RFC 8414 metadata and the userinfo endpoint: what a client needs to find and identify the provider."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .bearer import require_token
from .context import AcmeContext
from .errors import NO_STORE
from .scopes import SCOPES


class DiscoveryEndpoints:
    def __init__(self, ctx: AcmeContext) -> None:
        self._settings = ctx.settings
        self._store = ctx.store
        self._stats = ctx.stats

    def routes(self) -> list[Route]:
        return [
            Route("/.well-known/oauth-authorization-server", self.metadata, methods=["GET"]),
            Route("/userinfo", self.userinfo, methods=["GET", "POST"]),
        ]

    async def metadata(self, request: Request) -> Response:
        endpoint = self._settings.endpoint
        return JSONResponse(
            {
                "issuer": self._settings.issuer,
                "authorization_endpoint": endpoint("/authorize"),
                "token_endpoint": endpoint("/token"),
                "userinfo_endpoint": endpoint("/userinfo"),
                "revocation_endpoint": endpoint("/revoke"),
                "scopes_supported": list(SCOPES),
                "response_types_supported": ["code"],
                "response_modes_supported": ["query"],
                "grant_types_supported": ["authorization_code", "refresh_token"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
                "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
                "authorization_response_iss_parameter_supported": True,
                "service_documentation": endpoint("/openapi.json"),
            }
        )

    async def userinfo(self, request: Request) -> Response:
        self._stats.bump("userinfo_requests")
        access = require_token(request, self._store)
        user = self._settings.user_by_id(access.user_id)
        if user is None:  # pragma: no cover - tokens are only issued to configured users
            raise LookupError(access.user_id)
        body = {"sub": user.user_id, "name": user.name, "email": user.email, "preferred_username": user.username}
        return JSONResponse(body, headers=NO_STORE)
