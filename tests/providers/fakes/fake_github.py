"""GitHub, as its documentation describes it: OAuth App / GitHub App user authorization.

- ``GET /login/oauth/authorize``: ``client_id``, ``redirect_uri``, ``scope`` (space-delimited), ``state``,
  ``code_challenge`` (S256 only, since July 2025).
- ``POST /login/oauth/access_token``: ``client_id``, ``client_secret``, ``code``, ``redirect_uri``,
  ``code_verifier``; or ``grant_type=refresh_token`` for GitHub App tokens that expire. The answer is form-encoded
  unless ``Accept: application/json`` is sent, and *errors come with HTTP 200* (``bad_verification_code``,
  ``incorrect_client_credentials``, ``bad_refresh_token``).
- ``GET /user``: the user, whose ``id`` is an integer.

Sources: docs.github.com …/authorizing-oauth-apps, …/troubleshooting-oauth-app-access-token-request-errors,
…/refreshing-user-access-tokens, …/rest/users/users.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fakes.fake_base import FakeProvider
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

AUTHORIZE = "/login/oauth/authorize"
TOKEN = "/login/oauth/access_token"
USER = "/user"
OCTOCAT: dict[str, Any] = {"login": "octocat", "id": 583231, "name": "The Octocat", "type": "User"}
ERROR_URI = "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors"


def build(fake: FakeProvider) -> Starlette:
    async def authorize(request: Request) -> Response:
        call = await fake.record(request)
        if call.params.get("client_id") != fake.client_id:
            return Response("Not Found", status_code=404)
        return fake.approve(call)

    async def access_token(request: Request) -> Response:
        call = await fake.record(request)
        as_json = "application/json" in request.headers.get("accept", "")
        if not fake.client_ok(call, style="either"):
            return _answer(_error("incorrect_client_credentials"), as_json)
        if call.params.get("grant_type") == "refresh_token":
            issued = fake.use_refresh(call.params.get("refresh_token"))
            if issued is None:
                return _answer(_error("bad_refresh_token"), as_json)
            return _answer(_tokens(*issued), as_json)
        if fake.redeem(call) is None:
            return _answer(_error("bad_verification_code"), as_json)
        return _answer(_tokens(fake.new_access(), fake.new_refresh()), as_json)

    async def user(request: Request) -> Response:
        await fake.record(request)
        if not fake.bearer_ok(request):
            body = {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest", "status": "401"}
            return JSONResponse(body, status_code=401)
        return JSONResponse(fake.user)

    return Starlette(
        routes=[
            Route(AUTHORIZE, authorize, methods=["GET"]),
            Route(TOKEN, access_token, methods=["POST"]),
            Route(USER, user, methods=["GET"]),
        ]
    )


def _tokens(access: str, refresh: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {"access_token": access, "scope": "", "token_type": "bearer"}
    if refresh is not None:  # a GitHub App with user token expiration on
        body.update(expires_in=28800, refresh_token=refresh, refresh_token_expires_in=15897600)
    return body


def _error(code: str) -> dict[str, Any]:
    descriptions = {
        "incorrect_client_credentials": "The client_id and/or client_secret passed are incorrect.",
        "bad_verification_code": "The code passed is incorrect or expired.",
        "bad_refresh_token": "The refresh token passed is incorrect or expired.",
    }
    return {"error": code, "error_description": descriptions[code], "error_uri": f"{ERROR_URI}#{code}"}


def _answer(body: dict[str, Any], as_json: bool) -> Response:
    """HTTP 200 always; JSON only when asked for, as GitHub does."""
    if as_json:
        return JSONResponse(body)
    return Response(urlencode(body), media_type="application/x-www-form-urlencoded")
