"""Validation of an authorization request (RFC 6749 §4.1.1, OAuth 2.1 §4.1.1, RFC 7636, RFC 8707).

Two phases, because they fail differently: ``validate_client_and_redirect`` runs first and its failures are shown
on Deputy's own page (never redirected: the redirect URI is not trusted yet); ``validate_request`` runs after and
its failures may be redirected to the now-validated redirect URI with ``error``, ``state`` and ``iss``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from deputy.errors import BrowserFlowError, InvalidRequestError, UnsupportedResponseTypeError
from deputy.oauth.models import Client
from deputy.oauth.pkce import validate_challenge
from deputy.oauth.redirect_uri import check_redirect_uri_matches
from deputy.oauth.resource import validate_resource
from deputy.oauth.scopes import parse_scope, validate_requested

__all__ = ["AuthorizationRequest", "validate_client_and_redirect", "validate_request"]

MAX_STATE_LENGTH = 1024


@dataclass(frozen=True)
class AuthorizationRequest:
    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    code_challenge: str
    resource: str
    state: str | None


def validate_client_and_redirect(client: Client | None, redirect_uri: str | None) -> str:
    """The redirect URI to use, or a local error page.

    Raises:
        BrowserFlowError: unknown client, or a redirect URI that is not exactly registered.
    """
    if client is None:
        raise BrowserFlowError("Unknown application", "This application is not registered with Deputy.")
    if redirect_uri is None:
        if len(client.redirect_uris) == 1:
            return client.redirect_uris[0]
        raise BrowserFlowError("Invalid request", "The request did not say where to return.")
    if not check_redirect_uri_matches(client.redirect_uris, redirect_uri):
        raise BrowserFlowError(
            "Invalid redirect address",
            "The address this request wants to return to is not registered for this application.",
        )
    return redirect_uri


def validate_request(
    params: Mapping[str, str],
    client: Client,
    redirect_uri: str,
    *,
    resource_url: str,
    known_scopes: Sequence[str],
    default_scopes: Sequence[str],
) -> AuthorizationRequest:
    """Raises:
    OAuthError: unsupported_response_type, invalid_request (PKCE, state), invalid_target, invalid_scope.
    """
    if params.get("response_type") != "code":
        raise UnsupportedResponseTypeError("response_type must be code")
    if "authorization_code" not in client.grant_types:
        raise InvalidRequestError("client is not registered for the authorization_code grant")
    challenge = validate_challenge(params.get("code_challenge"), params.get("code_challenge_method"))
    state = params.get("state")
    if state is not None and len(state) > MAX_STATE_LENGTH:
        raise InvalidRequestError("state is too long")
    resource = validate_resource(params.get("resource"), resource_url)
    scopes = validate_requested(
        parse_scope(params.get("scope")), known=known_scopes, defaults=default_scopes, client_allowed=client.scope
    )
    return AuthorizationRequest(client.client_id, redirect_uri, scopes, challenge, resource, state)
