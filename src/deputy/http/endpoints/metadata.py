"""RFC 8414 authorization-server metadata and the JWK Set."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from deputy.http.deps import deps_of
from deputy.oauth.metadata import authorization_server_metadata

__all__ = ["authorization_server", "jwks"]

_PUBLIC = {"Cache-Control": "public, max-age=300", "Access-Control-Allow-Origin": "*"}


async def authorization_server(request: Request) -> Response:
    settings = deps_of(request).ctx.settings
    doc = authorization_server_metadata(
        settings.issuer,
        scopes=tuple(settings.scopes),
        registration_enabled=settings.registration.enabled,
        token_exchange=bool(settings.downstream),
        client_id_metadata_documents=settings.client_metadata.enabled,
    )
    return JSONResponse(doc, headers=_PUBLIC)


async def jwks(request: Request) -> Response:
    return JSONResponse(deps_of(request).ctx.keys.public_jwks(), headers=_PUBLIC)
