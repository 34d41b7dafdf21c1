"""The code behind a preset's ``token_response`` strategy: reading a provider's token endpoint answer.

Pure functions over an already-decoded body, so that each provider's shape is tested without a network. The
client (``deputy.upstream.client``) sends the request and turns what these functions find into ``UpstreamError``
or ``UpstreamTokenResponse``.

| strategy | an error is                                    | the user's token is                        |
| -------- | ---------------------------------------------- | ------------------------------------------ |
| oauth2   | any status but 200, code in ``error``          | the body                                   |
| github   | ``error`` in the body, even with HTTP 200      | the body                                   |
| slack    | ``ok`` not true (HTTP 200), code in ``error``  | ``authed_user``, or a top level of ``user`` |
| notion   | any status but 200, code in ``error``/``code`` | the body                                   |
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import parse_qsl

from deputy.upstream.presets import TokenResponse

__all__ = ["decode_form", "provider_error", "safe_code", "user_token"]

_CODE: Final = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


def safe_code(value: object) -> str | None:
    """A provider error code fit for logs and audit: a short token, or None. Codes are not secrets, but a body is
    attacker-influenced text and should not reach the log verbatim."""
    if isinstance(value, str) and _CODE.fullmatch(value):
        return value
    return None if value is None else "unrecognised"


def provider_error(style: TokenResponse, status: int, data: Mapping[str, Any]) -> str | None:
    """The provider's error code when this answer is an error (``"unrecognised"`` if it gave none usable)."""
    if style == "github":
        found = data.get("error")
        return (safe_code(found) or "unrecognised") if found is not None or status != 200 else None
    if style == "slack":
        failed = data.get("ok") is not True or status != 200
        return (safe_code(data.get("error")) or "unrecognised") if failed else None
    if status == 200:
        return None
    code = data.get("error") if style == "oauth2" else data.get("error") or data.get("code")
    return safe_code(code) or "unrecognised"


def user_token(style: TokenResponse, data: Mapping[str, Any]) -> Mapping[str, Any]:
    """Where the user's token fields are.

    Slack's code exchange nests them under ``authed_user``; its top level holds the *bot* token, if any, which
    stands for the app's installation and must never be stored as the user's. Its refresh answer has the user's
    token at the top level, marked ``token_type: user``. Anything else holds no user token (an empty mapping).
    """
    if style != "slack":
        return data
    nested = data.get("authed_user")
    if isinstance(nested, Mapping):
        return nested
    return data if data.get("token_type") == "user" else {}


def decode_form(content: bytes) -> dict[str, Any]:
    """An ``application/x-www-form-urlencoded`` token response (GitHub's default without ``Accept: json``).

    Raises:
        ValueError: not decodable as UTF-8 form data.
    """
    text = content.decode("utf-8")
    pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text))
    return {k: int(v) if k.endswith("expires_in") and v.isdigit() else v for k, v in pairs}
