"""Errors as data: every OAuth error carries its spec code, a public description and a private cause.

The public ``description`` is what a client or browser sees; ``cause`` is for the log only and never rendered.
One renderer (``deputy.http.render``) decides whether an error becomes JSON, a local HTML page or a redirect,
and a redirect is only possible once the client and its redirect URI have been validated.
"""

from __future__ import annotations

from typing import ClassVar


class DeputyError(Exception):
    """Base of every error Deputy raises on purpose."""


class ConfigError(DeputyError):
    """The configuration is unusable; the message names the offending key."""


class OAuthError(DeputyError):
    """RFC 6749 §5.2 / §4.1.2.1 error. Subclasses set ``error`` and ``status``."""

    error: ClassVar[str] = "invalid_request"
    status: ClassVar[int] = 400

    def __init__(self, description: str = "", *, cause: str = "") -> None:
        super().__init__(description or self.error)
        self.description = description
        self.cause = cause

    def to_json(self) -> dict[str, str]:
        body = {"error": self.error}
        if self.description:
            body["error_description"] = self.description
        return body


class InvalidRequestError(OAuthError):
    """RFC 6749 §5.2 ``invalid_request``: missing, repeated or malformed parameter."""

    error = "invalid_request"


class InvalidClientError(OAuthError):
    """RFC 6749 §5.2 ``invalid_client``: unknown client or failed client authentication."""

    error = "invalid_client"
    status = 401


class InvalidGrantError(OAuthError):
    """RFC 6749 §5.2 ``invalid_grant``: code or refresh token invalid, expired, revoked or reused."""

    error = "invalid_grant"


class UnauthorizedClientError(OAuthError):
    """RFC 6749 §5.2 ``unauthorized_client``: the client may not use this grant type."""

    error = "unauthorized_client"


class UnsupportedGrantTypeError(OAuthError):
    """RFC 6749 §5.2 ``unsupported_grant_type``."""

    error = "unsupported_grant_type"


class UnsupportedResponseTypeError(OAuthError):
    """RFC 6749 §4.1.2.1 ``unsupported_response_type``: only ``code`` exists in OAuth 2.1."""

    error = "unsupported_response_type"


class InvalidScopeError(OAuthError):
    """RFC 6749 §5.2 ``invalid_scope``."""

    error = "invalid_scope"


class AccessDeniedError(OAuthError):
    """RFC 6749 §4.1.2.1 ``access_denied``: the user (or policy) said no."""

    error = "access_denied"
    status = 403


class ServerError(OAuthError):
    """RFC 6749 §4.1.2.1 ``server_error``: something on our side or upstream failed."""

    error = "server_error"
    status = 500


class TemporarilyUnavailableError(OAuthError):
    """RFC 6749 §4.1.2.1 ``temporarily_unavailable``: storage or upstream briefly unreachable."""

    error = "temporarily_unavailable"
    status = 503


class InvalidTargetError(OAuthError):
    """RFC 8707 §2 ``invalid_target``: the ``resource`` is not Deputy's MCP resource."""

    error = "invalid_target"


class InvalidRedirectUriError(OAuthError):
    """RFC 7591 §3.2.2 ``invalid_redirect_uri``."""

    error = "invalid_redirect_uri"


class InvalidClientMetadataError(OAuthError):
    """RFC 7591 §3.2.2 ``invalid_client_metadata``."""

    error = "invalid_client_metadata"


class SlowDownError(OAuthError):
    """Registration rate limit hit; rendered as 429 with ``Retry-After``."""

    error = "slow_down"
    status = 429

    def __init__(self, description: str = "", *, retry_after: int = 60, cause: str = "") -> None:
        super().__init__(description, cause=cause)
        self.retry_after = retry_after


class InvalidTokenError(OAuthError):
    """RFC 6750 §3.1 ``invalid_token``."""

    error = "invalid_token"
    status = 401


class BrowserFlowError(DeputyError):
    """An error in a browser step that must be shown on Deputy's own page, never redirected.

    Used before the client and redirect URI are validated and for every callback failure
    (state missing, replayed, expired, from another browser).
    """

    def __init__(self, title: str, message: str, *, status: int = 400, cause: str = "") -> None:
        super().__init__(title)
        self.title = title
        self.message = message
        self.status = status
        self.cause = cause


class AuthorizationRedirect(DeputyError):
    """An authorization error to be sent to an already validated redirect URI (RFC 6749 §4.1.2.1, RFC 9207)."""

    def __init__(self, error: OAuthError, *, redirect_uri: str, state: str | None) -> None:
        super().__init__(error.error)
        self.error = error
        self.redirect_uri = redirect_uri
        self.state = state
