"""Atlassian Cloud OAuth 2.0 (3LO), as its documentation describes it.

- ``GET /authorize``: ``audience=api.atlassian.com`` and ``prompt=consent`` are required; scopes are
  space-separated; ``offline_access`` asks for a refresh token.
- ``POST /oauth/token``: a *JSON* body carrying ``client_id`` and ``client_secret``. Refresh tokens rotate: each
  use returns a new one and the old one stops working. A refused refresh token gets HTTP 403 with
  ``{"error": "invalid_grant", "error_description": "Unknown or invalid refresh token."}``.
- ``GET /me`` (api.atlassian.com): the user, identified by ``account_id``.

Sources: developer.atlassian.com/cloud/jira/platform/oauth-2-3lo-apps/,
developer.atlassian.com/cloud/oauth/getting-started/refresh-tokens.
"""

from __future__ import annotations

from typing import Any

from fakes.fake_base import Call, FakeProvider
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

AUTHORIZE = "/authorize"
TOKEN = "/oauth/token"
ME = "/me"
USER: dict[str, Any] = {
    "account_type": "atlassian",
    "account_id": "5b10ac8d82e05b22cc7d4ef5",
    "email": "mia@example.com",
    "name": "Mia Krystof",
    "account_status": "active",
}


def build(fake: FakeProvider) -> Starlette:
    async def authorize(request: Request) -> Response:
        call = await fake.record(request)
        if call.params.get("audience") != "api.atlassian.com" or call.params.get("client_id") != fake.client_id:
            return JSONResponse({"error": "invalid_request", "error_description": "audience is required"}, 400)
        return fake.approve(call)

    async def token(request: Request) -> Response:
        return _token(fake, await fake.record(request))

    async def me(request: Request) -> Response:
        await fake.record(request)
        if not fake.bearer_ok(request):
            return JSONResponse({"code": 401, "message": "Unauthorized"}, status_code=401)
        return JSONResponse(fake.user)

    return Starlette(
        routes=[
            Route(AUTHORIZE, authorize, methods=["GET"]),
            Route(TOKEN, token, methods=["POST"]),
            Route(ME, me, methods=["GET"]),
        ]
    )


def _token(fake: FakeProvider, call: Call) -> Response:
    if call.content_type != "application/json":
        return _error(415, "invalid_request", "Unsupported content type")
    if not fake.client_ok(call, style="post"):
        return _error(401, "access_denied", "Unauthorized")
    if call.params.get("grant_type") == "refresh_token":
        issued = fake.use_refresh(call.params.get("refresh_token"))
        if issued is None:
            return _error(403, "invalid_grant", "Unknown or invalid refresh token.")
        return JSONResponse(_tokens(*issued))
    grant = fake.redeem(call)
    if grant is None:
        return _error(403, "invalid_grant", "Invalid authorization code")
    offline = "offline_access" in str(grant.params.get("scope", "")).split()
    return JSONResponse(_tokens(fake.new_access(), fake.new_refresh() if offline else None))


def _tokens(access: str, refresh: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "access_token": access,
        "expires_in": 3600,
        "token_type": "Bearer",
        "scope": "read:me offline_access",
    }
    if refresh is not None:
        body["refresh_token"] = refresh
    return body


def _error(status: int, code: str, description: str) -> Response:
    return JSONResponse({"error": code, "error_description": description}, status_code=status)
