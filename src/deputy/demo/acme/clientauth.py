"""Confidential-client authentication for the token and revocation endpoints (RFC 6749 §2.3.1)."""

from __future__ import annotations

import base64
import hmac
from urllib.parse import unquote_plus

from starlette.requests import Request

from .errors import AcmeHTTPError, oauth_error
from .settings import AcmeClient, AcmeSettings

_BASIC_CHALLENGE = {"WWW-Authenticate": 'Basic realm="acme-crm"'}


def authenticate_client(request: Request, params: dict[str, str], settings: AcmeSettings) -> AcmeClient:
    """Accept exactly one of client_secret_basic and client_secret_post; anything else is ``invalid_client``."""
    basic = _basic_credentials(request)
    posted_secret = params.get("client_secret")
    if basic is not None and posted_secret:
        raise oauth_error("invalid_request", "use only one client authentication method")
    if basic is not None:
        if params.get("client_id") not in (None, "", basic[0]):
            raise oauth_error("invalid_request", "client_id does not match the authenticated client")
        return _check(settings, *basic, headers=_BASIC_CHALLENGE)
    return _check(settings, params.get("client_id", ""), posted_secret or "", headers={})


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        raise oauth_error("invalid_client", "unsupported client authentication scheme", 401, _BASIC_CHALLENGE)
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except ValueError as exc:  # binascii.Error, UnicodeDecodeError and non-ASCII input alike
        raise oauth_error("invalid_client", "malformed basic credentials", 401, _BASIC_CHALLENGE) from exc
    client_id, separator, secret = decoded.partition(":")
    if not separator:
        raise oauth_error("invalid_client", "malformed basic credentials", 401, _BASIC_CHALLENGE)
    return unquote_plus(client_id), unquote_plus(secret)


def _check(settings: AcmeSettings, client_id: str, secret: str, *, headers: dict[str, str]) -> AcmeClient:
    client = settings.client(client_id)
    expected = client.client_secret if client is not None else "x" * 32
    secret_ok = hmac.compare_digest(secret.encode("utf-8"), expected.encode("utf-8"))
    if client is None or not secret or not secret_ok:
        raise _client_failure(headers)
    return client


def _client_failure(headers: dict[str, str]) -> AcmeHTTPError:
    return oauth_error("invalid_client", "client authentication failed", 401, headers)
