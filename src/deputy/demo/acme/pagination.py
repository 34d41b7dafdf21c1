"""List parameters. Cursors are opaque to clients so the ordering key can change without breaking them."""

from __future__ import annotations

import base64
import binascii
import re

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_CURSOR_LENGTH = 200
_CURSOR_BODY = re.compile(r"([a-z]+):([0-9]{1,15})")


class ParameterError(ValueError):
    """A query parameter is unusable; ``name`` says which one."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name
        self.message = message


def parse_limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    if not raw.isascii() or not raw.isdigit() or len(raw) > 4 or not 1 <= int(raw) <= MAX_LIMIT:
        raise ParameterError("limit", f"must be an integer from 1 to {MAX_LIMIT}")
    return int(raw)


def encode_cursor(resource: str, after: int) -> str:
    return base64.urlsafe_b64encode(f"{resource}:{after}".encode("ascii")).decode("ascii").rstrip("=")


def decode_cursor(resource: str, raw: str | None) -> int:
    """The sequence number to continue after; 0 starts from the beginning."""
    if raw is None:
        return 0
    try:
        if len(raw) > MAX_CURSOR_LENGTH:
            raise ValueError(raw)
        text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode("ascii")
    except (binascii.Error, UnicodeError, ValueError) as exc:
        raise ParameterError("cursor", "is not a valid cursor") from exc
    match = _CURSOR_BODY.fullmatch(text)
    if match is None or match.group(1) != resource:
        raise ParameterError("cursor", "is not a valid cursor for this list")
    return int(match.group(2))
