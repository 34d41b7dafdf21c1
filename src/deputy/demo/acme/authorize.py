"""Validation of the authorization request (RFC 6749 §4.1.1, RFC 7636 §4.3).

The order matters: until the client and its exact redirect URI are known to be valid, nothing may be
redirected anywhere (RFC 6749 §4.1.2.1), so those failures are ``UnredirectableError`` and every later one is a
``RedirectableError`` that travels back to the client.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from urllib.parse import urlencode, urlsplit, urlunsplit

from . import pkce
from .forms import FormError, unique_params
from .scopes import UnknownScopeError, parse_scope
from .settings import AcmeClient, AcmeSettings


class UnredirectableError(Exception):
    """The client or redirect URI is not trustworthy; the user sees an error page at Acme instead."""


class RedirectableError(Exception):
    def __init__(self, error: str, description: str, redirect_uri: str, state: str | None) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.redirect_uri = redirect_uri
        self.state = state


FailFactory = Callable[[str, str], RedirectableError]


@dataclass(frozen=True)
class AuthorizationRequest:
    """A fully validated request; ``query`` is its canonical encoding, used to resume it after login."""

    client: AcmeClient
    redirect_uri: str
    scopes: frozenset[str]
    state: str | None
    code_challenge: str | None
    query: str


def parse_authorization_request(pairs: list[tuple[str, str]], settings: AcmeSettings) -> AuthorizationRequest:
    client, redirect_uri = _client_and_redirect(pairs, settings)
    state = _single(pairs, "state")
    try:
        params = unique_params(pairs)
    except FormError as exc:
        raise RedirectableError("invalid_request", str(exc), redirect_uri, state) from exc

    fail: FailFactory = partial(RedirectableError, redirect_uri=redirect_uri, state=state)
    _check_response_type(params.get("response_type"), fail)
    try:
        scopes = parse_scope(params.get("scope"))
    except UnknownScopeError as exc:
        raise fail("invalid_scope", str(exc)) from exc
    challenge = _code_challenge(params, settings.require_pkce, fail)
    return AuthorizationRequest(client, redirect_uri, scopes, state or None, challenge, urlencode(pairs))


def _client_and_redirect(pairs: list[tuple[str, str]], settings: AcmeSettings) -> tuple[AcmeClient, str]:
    client_id = _single(pairs, "client_id")
    redirect_uri = _single(pairs, "redirect_uri")
    client = settings.client(client_id) if client_id else None
    if client is None:
        raise UnredirectableError("The application that sent you here is not registered with Acme CRM.")
    if redirect_uri is None or redirect_uri not in client.redirect_uris:
        raise UnredirectableError("The application asked to send you to an address it has not registered.")
    return client, redirect_uri


def _single(pairs: list[tuple[str, str]], name: str) -> str | None:
    """The value of a parameter that appears exactly once; absent, empty or repeated all count as missing."""
    values: defaultdict[str, list[str]] = defaultdict(list)
    for key, value in pairs:
        values[key].append(value)
    found = values.get(name, [])
    return found[0] if len(found) == 1 and found[0] else None


def _check_response_type(response_type: str | None, fail: FailFactory) -> None:
    if not response_type:
        raise fail("invalid_request", "response_type is required")
    if response_type != "code":
        raise fail("unsupported_response_type", "only response_type=code is supported")


def _code_challenge(params: dict[str, str], required: bool, fail: FailFactory) -> str | None:
    challenge = params.get("code_challenge") or None
    method = params.get("code_challenge_method") or None
    if challenge is None:
        if method is not None:
            raise fail("invalid_request", "code_challenge_method without code_challenge")
        if required:
            raise fail("invalid_request", "code_challenge is required (PKCE, S256)")
        return None
    if method != "S256":
        raise fail("invalid_request", "transform algorithm not supported; use code_challenge_method=S256")
    if not pkce.is_valid_challenge(challenge):
        raise fail("invalid_request", "code_challenge must be a base64url SHA-256 digest")
    return challenge


def with_query(uri: str, params: dict[str, str]) -> str:
    """Append parameters to a redirect URI, keeping any query it was registered with (RFC 6749 §3.1.2)."""
    parts = urlsplit(uri)
    extra = urlencode(params)
    return urlunsplit(parts._replace(query=f"{parts.query}&{extra}" if parts.query else extra))
