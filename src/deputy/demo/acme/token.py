"""The back channel: /token (authorization_code and refresh_token grants) and /revoke (RFC 7009)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import pkce
from .clientauth import authenticate_client
from .context import AcmeContext
from .errors import NO_STORE, oauth_error
from .forms import FormError, read_form
from .grants import AuthorizationCode, GrantError, ScopeEscalationError, TokenPair
from .scopes import UnknownScopeError, format_scope, parse_scope
from .settings import AcmeClient


class TokenEndpoints:
    def __init__(self, ctx: AcmeContext) -> None:
        self._settings = ctx.settings
        self._store = ctx.store
        self._stats = ctx.stats

    def routes(self) -> list[Route]:
        return [
            Route("/token", self.token, methods=["POST"]),
            Route("/revoke", self.revoke, methods=["POST"]),
        ]

    async def token(self, request: Request) -> Response:
        params = await _form(request)
        grant_type = params.get("grant_type", "")
        self._stats.token_request(grant_type)
        client = authenticate_client(request, params, self._settings)
        if grant_type == "authorization_code":
            return _token_response(self._exchange_code(client, params), self._settings.access_token_ttl)
        if grant_type == "refresh_token":
            return _token_response(self._refresh(client, params), self._settings.access_token_ttl)
        if not grant_type:
            raise oauth_error("invalid_request", "grant_type is required")
        raise oauth_error("unsupported_grant_type", "supported grant types: authorization_code, refresh_token")

    async def revoke(self, request: Request) -> Response:
        """Always 200 for a well-formed request, so a caller cannot probe which tokens exist."""
        params = await _form(request)
        client = authenticate_client(request, params, self._settings)
        token = params.get("token")
        if not token:
            raise oauth_error("invalid_request", "token is required")
        self._store.revoke_token(token, client.client_id)
        self._stats.bump("revocations")
        return Response(status_code=200, headers=NO_STORE)

    def _exchange_code(self, client: AcmeClient, params: dict[str, str]) -> TokenPair:
        code = params.get("code")
        if not code:
            raise oauth_error("invalid_request", "code is required")
        try:
            grant = self._store.redeem_code(code)
        except GrantError as exc:
            raise oauth_error("invalid_grant", str(exc)) from exc
        _check_code_binding(grant, client, params)
        return self._store.issue_tokens(client.client_id, grant.user_id, grant.scopes, grant.grant_id)

    def _refresh(self, client: AcmeClient, params: dict[str, str]) -> TokenPair:
        refresh_token = params.get("refresh_token")
        if not refresh_token:
            raise oauth_error("invalid_request", "refresh_token is required")
        try:
            scopes = parse_scope(params["scope"]) if params.get("scope") else None
            pair = self._store.refresh(refresh_token, client.client_id, scopes, self._settings.refresh_token_rotation)
        except (UnknownScopeError, ScopeEscalationError) as exc:
            raise oauth_error("invalid_scope", str(exc)) from exc
        except GrantError as exc:
            raise oauth_error("invalid_grant", str(exc)) from exc
        self._stats.bump("refreshes")
        return pair


async def _form(request: Request) -> dict[str, str]:
    try:
        return await read_form(request)
    except FormError as exc:
        raise oauth_error("invalid_request", str(exc)) from exc


def _check_code_binding(grant: AuthorizationCode, client: AcmeClient, params: dict[str, str]) -> None:
    """RFC 6749 §4.1.3 and RFC 7636 §4.6; the code is already consumed, so a failed attempt burns it."""
    if grant.client_id != client.client_id:
        raise oauth_error("invalid_grant", "authorization code was issued to another client")
    if params.get("redirect_uri") != grant.redirect_uri:
        raise oauth_error("invalid_grant", "redirect_uri does not match the authorization request")
    verifier = params.get("code_verifier")
    if grant.code_challenge is None:
        if verifier:
            raise oauth_error("invalid_grant", "code_verifier sent but the authorization request had no challenge")
        return
    if not verifier:
        raise oauth_error("invalid_grant", "code_verifier is required")
    if not pkce.verify(verifier, grant.code_challenge):
        raise oauth_error("invalid_grant", "code_verifier does not match the code_challenge")


def _token_response(pair: TokenPair, expires_in: int) -> JSONResponse:
    access = pair.access
    body = {
        "access_token": access.token,
        "token_type": "Bearer",
        "expires_in": expires_in,
        "refresh_token": pair.refresh.token,
        "scope": format_scope(access.scopes),
    }
    return JSONResponse(body, headers=NO_STORE)
