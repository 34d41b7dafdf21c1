"""Slack's OAuth v2, as its documentation describes it, with token rotation on.

- ``GET /oauth/v2/authorize``: bot scopes in ``scope``, user scopes in ``user_scope`` (comma-separated).
- ``POST /api/oauth.v2.access``: HTTP Basic preferred. *Every* answer is HTTP 200: success is ``"ok": true``,
  failure ``{"ok": false, "error": "invalid_code"}``. The user's token, its refresh token and the user's id are
  nested under ``authed_user``; the top level holds the bot token, if any. With rotation on, a refresh answers
  with a new user token and refresh token at the top level and revokes the old refresh token.

Sources: docs.slack.dev/authentication/installing-with-oauth, …/reference/methods/oauth.v2.access,
…/authentication/using-token-rotation.
"""

from __future__ import annotations

from typing import Any

from fakes.fake_base import FakeProvider
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

AUTHORIZE = "/oauth/v2/authorize"
TOKEN = "/api/oauth.v2.access"
USER_ID = "U0G9QF9C6"
BOT_TOKEN = "xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy"
TEAM = {"id": "T9TK3CUKW", "name": "Slack Softball Team"}


def build(fake: FakeProvider) -> Starlette:
    async def authorize(request: Request) -> Response:
        call = await fake.record(request)
        if call.params.get("client_id") != fake.client_id:
            return Response("invalid_client_id", status_code=400)
        return fake.approve(call)

    async def access(request: Request) -> Response:
        call = await fake.record(request)
        if call.basic is None and call.params.get("client_id") != fake.client_id:
            return _failed("invalid_client_id")
        if not fake.client_ok(call, style="either"):
            return _failed("bad_client_secret")
        if call.params.get("grant_type") == "refresh_token":
            issued = fake.use_refresh(call.params.get("refresh_token"))
            if issued is None:
                return _failed("invalid_refresh_token")
            return JSONResponse(_refreshed(*issued))
        grant = fake.redeem(call)
        if grant is None:
            return _failed("invalid_code")
        body = _installed(fake.new_access(), fake.new_refresh(), str(grant.params.get("user_scope", "")))
        if grant.params.get("scope"):  # bot scopes were asked for too: the top level carries the bot's token
            body.update(access_token=BOT_TOKEN, token_type="bot", scope=grant.params["scope"], bot_user_id="U0KRQLJ9H")
        return JSONResponse(body)

    return Starlette(routes=[Route(AUTHORIZE, authorize, methods=["GET"]), Route(TOKEN, access, methods=["POST"])])


def _installed(access: str, refresh: str | None, user_scope: str) -> dict[str, Any]:
    user: dict[str, Any] = {"id": USER_ID, "scope": user_scope, "access_token": access, "token_type": "user"}
    if refresh is not None:
        user.update(refresh_token=refresh, expires_in=43200)
    return {
        "ok": True,
        "app_id": "A0KRD7HC3",
        "authed_user": user,
        "team": TEAM,
        "enterprise": None,
        "is_enterprise_install": False,
    }


def _refreshed(access: str, refresh: str | None) -> dict[str, Any]:
    return {
        "ok": True,
        "app_id": "A0KRD7HC3",
        "access_token": access,
        "refresh_token": refresh,
        "expires_in": 43200,
        "token_type": "user",
        "team": TEAM,
        "enterprise": None,
        "is_enterprise_install": False,
    }


def _failed(error: str) -> Response:
    return JSONResponse({"ok": False, "error": error})
