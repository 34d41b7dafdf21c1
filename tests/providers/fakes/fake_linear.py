"""Linear, as its documentation describes it: OAuth 2.0 with PKCE and rotating refresh tokens, and a GraphQL API.

- ``GET /oauth/authorize``: ``scope`` is a *comma*-separated list (``read`` always present).
- ``POST /oauth/token``: form body, client credentials as parameters; access tokens live 24 hours and each
  refresh returns a new refresh token, invalidating the old one.
- ``POST /graphql`` ``{ viewer { id name } }``: who the token belongs to. GraphQL errors come with an ``errors``
  array.

Sources: linear.app/developers/oauth-2-0-authentication, linear.app/developers/graphql.
"""

from __future__ import annotations

import json
from typing import Any

from fakes.fake_base import Call, FakeProvider
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

AUTHORIZE = "/oauth/authorize"
TOKEN = "/oauth/token"
GRAPHQL = "/graphql"
VIEWER: dict[str, Any] = {"id": "2f4d5c0e-5f3a-4c4e-9d7e-1b2a3c4d5e6f", "name": "Katherine Johnson"}


def build(fake: FakeProvider) -> Starlette:
    async def authorize(request: Request) -> Response:
        call = await fake.record(request)
        if call.params.get("client_id") != fake.client_id:
            return JSONResponse({"error": "invalid_client"}, status_code=400)
        return fake.approve(call)

    async def token(request: Request) -> Response:
        return _token(fake, await fake.record(request))

    async def graphql(request: Request) -> Response:
        call = await fake.record(request)
        if not fake.bearer_ok(request):
            errors = [{"message": "Authentication required, not authenticated", "extensions": {"code": "AUTH"}}]
            return JSONResponse({"errors": errors}, status_code=400)
        if "viewer" not in json.dumps(call.params.get("query", "")):
            return JSONResponse({"errors": [{"message": "unexpected query"}]}, status_code=400)
        return JSONResponse({"data": {"viewer": fake.user}})

    return Starlette(
        routes=[
            Route(AUTHORIZE, authorize, methods=["GET"]),
            Route(TOKEN, token, methods=["POST"]),
            Route(GRAPHQL, graphql, methods=["POST"]),
        ]
    )


def _token(fake: FakeProvider, call: Call) -> Response:
    if not fake.client_ok(call, style="either"):
        return _error("invalid_client", "Client authentication failed", 401)
    if call.params.get("grant_type") == "refresh_token":
        issued = fake.use_refresh(call.params.get("refresh_token"))
        if issued is None:
            return _error("invalid_grant", "Refresh token is invalid, expired or revoked")
        return JSONResponse(_tokens(*issued))
    if fake.redeem(call) is None:
        return _error("invalid_grant", "Authorization code is invalid or expired")
    return JSONResponse(_tokens(fake.new_access(), fake.new_refresh()))


def _tokens(access: str, refresh: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {"access_token": access, "token_type": "Bearer", "expires_in": 86399, "scope": "read"}
    if refresh is not None:
        body["refresh_token"] = refresh
    return body


def _error(code: str, description: str, status: int = 400) -> Response:
    return JSONResponse({"error": code, "error_description": description}, status_code=status)
