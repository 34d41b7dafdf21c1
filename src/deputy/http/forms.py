"""Parsing request parameters at the edge: single-valued, bounded, strings only.

RFC 6749 §3.1 / §3.2: parameters MUST NOT be included more than once; a repeated one is an ``invalid_request``
(or, before the client is known, a local error page).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from urllib.parse import parse_qsl, unquote

from starlette.datastructures import UploadFile
from starlette.requests import Request

from deputy.errors import InvalidClientError, InvalidRequestError
from deputy.service.token import ClientCredentials, assertion_credentials

__all__ = ["client_credentials", "read_form", "read_pairs", "single_values"]

MAX_VALUE = 4096
MAX_FIELDS = 50


def single_values(items: Iterable[tuple[str, object]]) -> dict[str, str]:
    """Raises:
    InvalidRequestError: a repeated or non-text parameter, or one longer than ``MAX_VALUE``.
    """
    out: dict[str, str] = {}
    for key, value in items:
        if key in out:
            raise InvalidRequestError(f"parameter {key[:40]} is repeated")
        if isinstance(value, UploadFile) or not isinstance(value, str) or len(value) > MAX_VALUE:
            raise InvalidRequestError(f"parameter {key[:40]} is not acceptable")
        if value != "":
            out[key] = value  # RFC 6749 §3.1: parameters sent without a value are treated as omitted
    return out


async def read_form(request: Request) -> dict[str, str]:
    """The urlencoded body as single values. Parsed with the standard library rather than the multipart parser: the
    body is already bounded by the middleware, only this one encoding is accepted, and it is the hot path of /token.

    Raises:
        InvalidRequestError: not ``application/x-www-form-urlencoded``, not UTF-8, too many fields, or malformed.
    """
    return single_values(await read_pairs(request))


async def read_pairs(request: Request) -> list[tuple[str, str]]:
    """The urlencoded body as ordered pairs, repeats kept, for the few parameters a spec lets repeat (RFC 8693
    ``audience`` and ``resource``); everything else still goes through ``single_values``.

    Raises:
        InvalidRequestError: as ``read_form``.
    """
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/x-www-form-urlencoded":
        raise InvalidRequestError("expected application/x-www-form-urlencoded")
    try:
        text = (await request.body()).decode("utf-8")
        return parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FIELDS, encoding="utf-8", errors="strict")
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidRequestError("malformed form body") from exc


def client_credentials(request: Request, form: dict[str, str]) -> ClientCredentials:
    """RFC 6749 §2.3.1: HTTP Basic (url-encoded id and secret), the form, or a client assertion; never two of them.

    Raises:
        InvalidClientError / InvalidRequestError: malformed or conflicting client authentication.
    """
    header = request.headers.get("authorization")
    if "client_assertion" in form or "client_assertion_type" in form:  # RFC 7523 §2.2 (private_key_jwt)
        return assertion_credentials(form, other_method=header is not None)
    if header is not None:
        if "client_secret" in form:
            raise InvalidRequestError("use one client authentication method")
        client_id, secret = _basic(header)
        if form.get("client_id", client_id) != client_id:
            raise InvalidClientError("client authentication failed")
        return ClientCredentials(client_id, "client_secret_basic", secret)
    form_client_id = form.get("client_id")
    if not form_client_id:
        raise InvalidClientError("client authentication failed")
    if "client_secret" in form:
        return ClientCredentials(form_client_id, "client_secret_post", form["client_secret"])
    return ClientCredentials(form_client_id, "none")


def _basic(header: str) -> tuple[str, str]:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        raise InvalidClientError("client authentication failed")
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        raise InvalidClientError("client authentication failed") from None
    client_id, sep, secret = decoded.partition(":")
    if not sep or not client_id:
        raise InvalidClientError("client authentication failed")
    return unquote(client_id), unquote(secret)
