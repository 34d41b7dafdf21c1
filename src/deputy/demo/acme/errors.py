"""Errors as exceptions that the app renders as JSON, so handlers can stop at the first problem."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}

_STATUS_ERRORS = {404: "not_found", 405: "method_not_allowed", 413: "request_too_large"}


class AcmeHTTPError(Exception):
    """An error with an RFC-style code; ``extra`` carries structured details such as field errors."""

    def __init__(
        self,
        status: int,
        error: str,
        description: str,
        *,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, object] | None = None,
    ) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})

    def response(self) -> JSONResponse:
        body: dict[str, object] = {"error": self.error, "error_description": self.description, **self.extra}
        return JSONResponse(body, status_code=self.status, headers=self.headers)


def oauth_error(
    error: str, description: str, status: int = 400, headers: Mapping[str, str] | None = None
) -> AcmeHTTPError:
    """A token-endpoint style error: responses carrying credentials, or errors about them, are never cached."""
    return AcmeHTTPError(status, error, description, headers={**NO_STORE, **(headers or {})})


async def handle_acme_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, AcmeHTTPError):  # pragma: no cover - registered for AcmeHTTPError only
        raise exc
    return exc.response()


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    """Starlette's own 404/405/400 become JSON in the same shape as every other Acme error."""
    if not isinstance(exc, HTTPException):  # pragma: no cover - registered for HTTPException only
        raise exc
    error = _STATUS_ERRORS.get(exc.status_code, "invalid_request")
    headers = dict(exc.headers or {})
    return JSONResponse({"error": error, "error_description": exc.detail}, status_code=exc.status_code, headers=headers)
