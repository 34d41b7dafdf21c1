"""Notion's public-integration OAuth, as its documentation describes it.

- ``GET /v1/oauth/authorize``: ``client_id``, ``redirect_uri``, ``response_type=code``, ``owner=user``, ``state``.
  No scopes: the user picks pages while authorizing.
- ``POST /v1/oauth/token``: HTTP Basic client authentication and a *JSON* body. The answer names the workspace,
  the bot, and the user who authorized (``owner.user.id``). A refresh returns a new access and refresh token.
- Errors use Notion's API error object: ``{"object": "error", "status": 400, "code": "invalid_grant", …}``.

Sources: developers.notion.com/docs/authorization, …/reference/create-a-token, …/reference/refresh-a-token,
…/reference/status-codes.
"""

from __future__ import annotations

from typing import Any

from fakes.fake_base import Call, FakeProvider
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

AUTHORIZE = "/v1/oauth/authorize"
TOKEN = "/v1/oauth/token"
OWNER: dict[str, Any] = {
    "object": "user",
    "id": "c2f20311-9e54-4d11-8c79-7398424ae41e",
    "name": "Grace Hopper",
    "avatar_url": None,
    "type": "person",
    "person": {"email": "grace@example.com"},
}


def build(fake: FakeProvider) -> Starlette:
    async def authorize(request: Request) -> Response:
        call = await fake.record(request)
        if call.params.get("owner") != "user" or call.params.get("client_id") != fake.client_id:
            return _error(400, "invalid_request", "owner must be user")
        return fake.approve(call)

    async def token(request: Request) -> Response:
        return _token(fake, await fake.record(request))

    return Starlette(routes=[Route(AUTHORIZE, authorize, methods=["GET"]), Route(TOKEN, token, methods=["POST"])])


def _token(fake: FakeProvider, call: Call) -> Response:
    if call.content_type != "application/json":
        return _error(400, "invalid_json", "Error parsing JSON body.")
    if not fake.client_ok(call, style="basic"):
        return _error(401, "unauthorized", "API token is invalid.")
    if call.params.get("grant_type") == "refresh_token":
        issued = fake.use_refresh(call.params.get("refresh_token"))
        if issued is None:
            return _error(400, "invalid_grant", "Invalid refresh token.")
        return JSONResponse(_tokens(fake, *issued))
    if fake.redeem(call) is None:
        return _error(400, "invalid_grant", "Invalid code: this code has been revoked.")
    return JSONResponse(_tokens(fake, fake.new_access(), fake.new_refresh()))


def _tokens(fake: FakeProvider, access: str, refresh: str | None) -> dict[str, Any]:
    return {
        "access_token": access,
        "token_type": "bearer",
        "refresh_token": refresh,
        "bot_id": "b3414d65-1224-4ff7-9ffd-cc9d8773d601",
        "workspace_name": "Grace's Notion",
        "workspace_icon": None,
        "workspace_id": "j565j4d7-2882-41bb-864a-9d9ef3c36f7a",
        "owner": {"type": "user", "user": fake.user},
        "duplicated_template_id": None,
        "request_id": "0e4b4a4c-7d54-4e4b-9b4e-0d4f3d1b2c3a",
    }


def _error(status: int, code: str, message: str) -> Response:
    body = {"object": "error", "status": status, "code": code, "message": message}
    return JSONResponse(body, status_code=status)
