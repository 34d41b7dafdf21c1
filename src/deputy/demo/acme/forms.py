"""Strict ``application/x-www-form-urlencoded`` parsing.

Starlette's parser decodes raw bytes as Latin-1 and keeps repeated keys; OAuth wants UTF-8 and treats a
repeated parameter as an error (RFC 6749 §3.1), so the OAuth endpoints parse their bodies here instead.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request

MAX_FIELDS = 32
MAX_VALUE_LENGTH = 8192


class FormError(ValueError):
    """The body is not a well-formed OAuth form; the message is safe to return to the caller."""


async def read_form(request: Request) -> dict[str, str]:
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise FormError("body must be application/x-www-form-urlencoded")
    try:
        text = (await request.body()).decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FIELDS, errors="strict")
    except (UnicodeDecodeError, ValueError) as exc:
        raise FormError("malformed form body") from exc
    return unique_params(pairs)


def unique_params(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """Collapse pairs to a dict, refusing repeats and oversized values instead of silently picking one."""
    params: dict[str, str] = {}
    for name, value in pairs:
        if name in params:
            raise FormError(f"parameter {name[:40]!r} is repeated")
        if len(value) > MAX_VALUE_LENGTH:
            raise FormError(f"parameter {name[:40]!r} is too long")
        params[name] = value
    return params
