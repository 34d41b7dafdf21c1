"""A generic OpenID Connect provider: discovery document, authorization code with PKCE, userinfo.

Its discovery document names its own issuer unless told to lie (``claimed_issuer``), which is how a mix-up looks
from Deputy's side (OIDC Discovery §4.3). It sends ``iss`` on the callback (RFC 9207) and keeps refresh tokens
reusable.

Sources: openid.net/specs/openid-connect-discovery-1_0.html, openid-connect-core-1_0.html, RFC 9207.
"""

from __future__ import annotations

from typing import Any

from fakes.fake_base import Call, FakeProvider
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

DISCOVERY = "/.well-known/openid-configuration"
AUTHORIZE = "/authorize"
TOKEN = "/token"
USERINFO = "/userinfo"
USER: dict[str, Any] = {"sub": "248289761001", "name": "Jane Doe", "email": "janedoe@example.com"}


def build(fake: FakeProvider, claimed_issuer: str | None = None) -> Starlette:
    async def discovery(request: Request) -> Response:
        base = fake.base_url
        return JSONResponse(
            {
                "issuer": claimed_issuer or base,
                "authorization_endpoint": base + AUTHORIZE,
                "token_endpoint": base + TOKEN,
                "userinfo_endpoint": base + USERINFO,
                "jwks_uri": base + "/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic"],
                "authorization_response_iss_parameter_supported": True,
            }
        )

    async def authorize(request: Request) -> Response:
        call = await fake.record(request)
        if call.params.get("client_id") != fake.client_id or "openid" not in call.params.get("scope", "").split():
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        return fake.approve(call, iss=fake.base_url)

    async def token(request: Request) -> Response:
        return _token(fake, await fake.record(request))

    async def userinfo(request: Request) -> Response:
        await fake.record(request)
        if not fake.bearer_ok(request):
            return Response(status_code=401, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        return JSONResponse(fake.user)

    return Starlette(
        routes=[
            Route(DISCOVERY, discovery, methods=["GET"]),
            Route(AUTHORIZE, authorize, methods=["GET"]),
            Route(TOKEN, token, methods=["POST"]),
            Route(USERINFO, userinfo, methods=["GET"]),
        ]
    )


def _token(fake: FakeProvider, call: Call) -> Response:
    if not fake.client_ok(call, style="basic"):
        return JSONResponse({"error": "invalid_client"}, status_code=401)
    if call.params.get("grant_type") == "refresh_token":
        issued = fake.use_refresh(call.params.get("refresh_token"))
        if issued is None:
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        return JSONResponse(_tokens(*issued))
    if fake.redeem(call) is None:
        return JSONResponse({"error": "invalid_grant"}, status_code=400)
    return JSONResponse(_tokens(fake.new_access(), fake.new_refresh()))


def _tokens(access: str, refresh: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {"access_token": access, "token_type": "Bearer", "expires_in": 3600}
    if refresh is not None:
        body["refresh_token"] = refresh
    return body
