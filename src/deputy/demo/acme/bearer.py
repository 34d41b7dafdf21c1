"""Bearer-token checks for the resource side (RFC 6750), shared by /userinfo and the REST API."""

from __future__ import annotations

from starlette.requests import Request

from .errors import AcmeHTTPError
from .grants import AccessToken
from .store import AcmeStore

REALM = "acme-crm"


def require_token(request: Request, store: AcmeStore, scope: str | None = None) -> AccessToken:
    """The live access token on the request, or a 401/403 carrying the RFC 6750 §3 challenge."""
    token = _bearer(request)
    access = store.access_token(token) if token else None
    if access is None:
        description = "missing bearer token" if not token else "the access token is invalid or has expired"
        raise _challenge(401, "invalid_token", description)
    if scope is not None and scope not in access.scopes:
        raise _challenge(403, "insufficient_scope", f"this request needs the {scope} scope", scope)
    return access


def _bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def _challenge(status: int, error: str, description: str, scope: str | None = None) -> AcmeHTTPError:
    parts = [f'realm="{REALM}"', f'error="{error}"', f'error_description="{description}"']
    if scope is not None:
        parts.append(f'scope="{scope}"')
    return AcmeHTTPError(status, error, description, headers={"WWW-Authenticate": "Bearer " + ", ".join(parts)})
