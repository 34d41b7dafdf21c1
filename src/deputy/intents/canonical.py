"""The intent hash: SHA-256 over the canonical JSON of everything that makes one write operation what it is.

Canonical JSON here follows the ideas of RFC 8785 (JCS) for the values tool arguments can hold: object keys
sorted, no insignificant whitespace, strings as UTF-8 without escapes beyond what JSON requires, and an integral
float written as the integer it equals (``5.0`` and ``5`` are one number; the tool schemas treat them alike).
So key order and escape spelling (``"\\u00e9"`` or ``"é"``) never change the hash, while any change of value does.
Strings are NOT Unicode-normalised: the upstream receives the exact code points, so the user confirms exactly
those (an NFD "é" is a different operation from an NFC one, even though both look the same).

The hashed subject binds the operation to who asked and where it goes: tool, arguments, user, client_id and the
upstream target (method, API base URL, expanded path). The same arguments from another client, for another user,
or against another API are different intents.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

__all__ = ["HASH_VERSION", "IntentSubject", "canonical_json"]

HASH_VERSION: Final = 1
_MAX_SAFE_INTEGER: Final = 2**53


def _normalise(value: object) -> object:
    """Plain JSON values, integral floats as ints; anything else is refused (callers validated the arguments)."""
    if isinstance(value, Mapping):
        if not all(isinstance(key, str) for key in value):
            raise ValueError("object keys must be strings")
        return {key: _normalise(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_normalise(item) for item in value]
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("numbers must be finite")
        return int(value) if value.is_integer() and abs(value) < _MAX_SAFE_INTEGER else value
    if value is None or isinstance(value, str | int):  # bool is an int, and json.dumps keeps it true/false
        return value
    raise ValueError(f"a {type(value).__name__} is not a JSON value")


def canonical_json(value: object) -> str:
    """The canonical JSON text of ``value``.

    Raises:
        ValueError: not a plain JSON value (non-string keys, NaN or infinity, other types).
    """
    return json.dumps(_normalise(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _utf8(text: str) -> bytes:
    # A lone surrogate (valid in JSON's \\u escapes) still hashes deterministically and differently from any other.
    return text.encode("utf-8", "surrogatepass")


@dataclass(frozen=True)
class IntentSubject:
    """What one write operation is: the same subject always hashes the same, and nothing else does."""

    tool: str
    arguments: Mapping[str, Any]
    user_id: str
    client_id: str
    method: str
    base_url: str
    path: str

    @property
    def target(self) -> str:
        """The upstream URL (without the query, which the arguments already determine)."""
        return self.base_url + self.path

    def canonical_arguments(self) -> str:
        return canonical_json(self.arguments)

    def intent_hash(self) -> str:
        """Hex SHA-256 of the canonical subject.

        Raises:
            ValueError: the arguments are not plain JSON.
        """
        subject = {
            "v": HASH_VERSION,
            "tool": self.tool,
            "arguments": self.arguments,
            "user": self.user_id,
            "client_id": self.client_id,
            "target": {"method": self.method, "base_url": self.base_url, "path": self.path},
        }
        return hashlib.sha256(_utf8(canonical_json(subject))).hexdigest()
