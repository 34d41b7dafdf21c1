"""Google, as its documentation describes it: OAuth 2.0 for web server applications plus OpenID Connect.

- ``GET /o/oauth2/v2/auth``: ``access_type=offline`` asks for a refresh token, which Google issues on a repeat
  consent only with ``prompt=consent``; the callback carries ``iss`` (RFC 9207, advertised in the discovery
  document as ``authorization_response_iss_parameter_supported``).
- ``POST /token``: form body, client credentials as parameters. Errors are RFC 6749 JSON with HTTP 400/401.
  A refresh answer has no ``refresh_token``: the same one keeps working.
- ``GET /v1/userinfo``: OIDC claims; ``sub`` is the stable id.

Sources: developers.google.com/identity/protocols/oauth2/web-server, …/openid-connect/openid-connect,
…/openid-connect/reference.
"""

from __future__ import annotations

from typing import Any

from fakes.fake_base import Call, FakeProvider
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

ISSUER = "https://accounts.google.com"
AUTHORIZE = "/o/oauth2/v2/auth"
TOKEN = "/token"
USERINFO = "/v1/userinfo"
USER: dict[str, Any] = {
    "sub": "110169484474386276334",
    "name": "Ada Lovelace",
    "email": "ada@example.com",
    "email_verified": True,
}


def build(fake: FakeProvider) -> Starlette:
    async def authorize(request: Request) -> Response:
        call = await fake.record(request)
        if call.params.get("client_id") != fake.client_id or call.params.get("response_type") != "code":
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        return fake.approve(call, iss=ISSUER)

    async def token(request: Request) -> Response:
        return _token(fake, await fake.record(request))

    async def userinfo(request: Request) -> Response:
        await fake.record(request)
        if not fake.bearer_ok(request):
            return JSONResponse({"error": "invalid_request", "error_description": "Invalid Credentials"}, 401)
        return JSONResponse(fake.user)

    return Starlette(
        routes=[
            Route(AUTHORIZE, authorize, methods=["GET"]),
            Route(TOKEN, token, methods=["POST"]),
            Route(USERINFO, userinfo, methods=["GET"]),
        ]
    )


def _token(fake: FakeProvider, call: Call) -> Response:
    if not fake.client_ok(call, style="either"):
        return JSONResponse({"error": "invalid_client", "error_description": "Unauthorized"}, status_code=401)
    if call.params.get("grant_type") == "refresh_token":
        issued = fake.use_refresh(call.params.get("refresh_token"))
        if issued is None:
            return _invalid_grant("Token has been expired or revoked.")
        return JSONResponse(_tokens(issued[0], None))
    grant = fake.redeem(call)
    if grant is None:
        return _invalid_grant("Bad Request")
    offline = grant.params.get("access_type") == "offline" and grant.params.get("prompt") == "consent"
    return JSONResponse(_tokens(fake.new_access(), fake.new_refresh() if offline else None))


def _tokens(access: str, refresh: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "access_token": access,
        "expires_in": 3599,
        "scope": "openid https://www.googleapis.com/auth/userinfo.email",
        "token_type": "Bearer",
    }
    if refresh is not None:
        body["refresh_token"] = refresh
    return body


def _invalid_grant(description: str) -> Response:
    return JSONResponse({"error": "invalid_grant", "error_description": description}, status_code=400)
