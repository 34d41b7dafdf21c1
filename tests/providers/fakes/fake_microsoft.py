"""Microsoft identity platform (v2.0 endpoints) and Microsoft Graph, as their documentation describes them.

- ``GET /{tenant}/oauth2/v2.0/authorize`` and ``POST /{tenant}/oauth2/v2.0/token``. A ``resource`` parameter is
  refused with ``invalid_target`` (AADSTS9010010): v2.0 takes scopes, not resources.
- Errors are RFC 6749 JSON plus ``error_codes``, ``timestamp``, ``trace_id`` and ``correlation_id``.
- A refresh returns a new refresh token; the old one is not revoked ("Refresh tokens aren't revoked when used").
- ``GET /v1.0/me`` (Graph): ``id`` is the user's object id, ``displayName`` the name.

Sources: learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow, …/reference-error-codes,
learn.microsoft.com/graph/api/user-get.
"""

from __future__ import annotations

from typing import Any

from fakes.fake_base import Call, FakeProvider
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

TENANT = "contoso.onmicrosoft.com"
AUTHORIZE = f"/{TENANT}/oauth2/v2.0/authorize"
TOKEN = f"/{TENANT}/oauth2/v2.0/token"
ME = "/v1.0/me"
USER: dict[str, Any] = {
    "id": "87d349ed-44d7-43e1-9a83-5f2406dee5bd",
    "displayName": "Adele Vance",
    "userPrincipalName": "AdeleV@contoso.onmicrosoft.com",
}


def build(fake: FakeProvider) -> Starlette:
    async def authorize(request: Request) -> Response:
        call = await fake.record(request)
        if "resource" in call.params:
            return _error("invalid_target", 9010010, "The resource parameter isn't supported on the v2.0 endpoint.")
        return fake.approve(call)

    async def token(request: Request) -> Response:
        return _token(fake, await fake.record(request))

    async def me(request: Request) -> Response:
        await fake.record(request)
        if not fake.bearer_ok(request):
            body = {"error": {"code": "InvalidAuthenticationToken", "message": "Access token is empty."}}
            return JSONResponse(body, status_code=401)
        return JSONResponse({"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users/$entity", **fake.user})

    return Starlette(
        routes=[
            Route(AUTHORIZE, authorize, methods=["GET"]),
            Route(TOKEN, token, methods=["POST"]),
            Route(ME, me, methods=["GET"]),
        ]
    )


def _token(fake: FakeProvider, call: Call) -> Response:
    if "resource" in call.params:
        return _error("invalid_target", 9010010, "The resource parameter isn't supported on the v2.0 endpoint.")
    if not fake.client_ok(call, style="either"):
        return _error("invalid_client", 7000215, "Invalid client secret provided.", status=401)
    if call.params.get("grant_type") == "refresh_token":
        issued = fake.use_refresh(call.params.get("refresh_token"))
        if issued is None:
            return _error("invalid_grant", 70008, "The provided authorization code or refresh token has expired.")
        return JSONResponse(_tokens(*issued))
    grant = fake.redeem(call)
    if grant is None:
        return _error("invalid_grant", 70008, "The provided authorization code or refresh token has expired.")
    offline = "offline_access" in str(grant.params.get("scope", "")).split()
    return JSONResponse(_tokens(fake.new_access(), fake.new_refresh() if offline else None))


def _tokens(access: str, refresh: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "token_type": "Bearer",
        "scope": "openid profile User.Read",
        "expires_in": 3599,
        "ext_expires_in": 3599,
        "access_token": access,
    }
    if refresh is not None:
        body["refresh_token"] = refresh
    return body


def _error(code: str, aadsts: int, text: str, *, status: int = 400) -> Response:
    body = {
        "error": code,
        "error_description": f"AADSTS{aadsts}: {text}\r\nTrace ID: 0000aaaa\r\nCorrelation ID: aaaa0000",
        "error_codes": [aadsts],
        "timestamp": "2026-01-09 02:02:12Z",
        "trace_id": "0000aaaa-11bb-cccc-dd22-eeeeee333333",
        "correlation_id": "aaaa0000-bb11-2222-33cc-444444dddddd",
    }
    return JSONResponse(body, status_code=status)
