"""Redaction: no token, code, secret, password or cookie value ever reaches the report.

Two layers. Structural rules here (query parameters, headers, JSON members, tell-tale text patterns) are applied
whenever an exchange is described; :func:`scrub` then removes every secret value the scanner knows about (the
``--upstream-token``, issued client secrets, codes it saw) from the finished report, wherever it ended up.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

__all__ = [
    "REDACTED",
    "SECRET_NAMES",
    "redact_header",
    "redact_json",
    "redact_text",
    "redact_url",
    "scrub",
]

REDACTED: Final = "<redacted>"
SECRET_NAMES: Final = frozenset(
    {
        "access_token",
        "refresh_token",
        "id_token",
        "code",
        "code_verifier",
        "client_secret",
        "client_assertion",
        "assertion",
        "registration_access_token",
        "device_code",
        "password",
        "token",
        "subject_token",
        "actor_token",
        "csrf_token",
        "session",
    }
)
_SECRET_HEADERS: Final = frozenset({"authorization", "proxy-authorization", "x-api-key", "dpop"})
_URL_HEADERS: Final = frozenset({"location", "content-location", "refresh", "link"})
_NAMES_RE: Final = "|".join(sorted((re.escape(n) for n in SECRET_NAMES), key=len, reverse=True))
_PARAM_RE: Final = re.compile(rf"(?i)(?<![A-Za-z0-9_])({_NAMES_RE})=([^&\s\"'<>#;]+)")
_JSON_RE: Final = re.compile(rf"(?i)(\"(?:{_NAMES_RE})\"\s*:\s*)\"(?:[^\"\\]|\\.)*\"")
# A credential after an auth scheme, but not an auth-param list (``Bearer realm="…"`` is a challenge, not a token).
_BEARER_RE: Final = re.compile(r"(?i)\b(bearer|basic|dpop)\s+(?![A-Za-z0-9\-._~+/]+=[^=\s,])[A-Za-z0-9\-._~+/]+=*")
_JWT_RE: Final = re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")
_MIN_SCRUB_LENGTH: Final = 6


def _is_secret(name: str) -> bool:
    return name.lower() in SECRET_NAMES


def _redact_pairs(query: str) -> str:
    pairs = parse_qsl(query, keep_blank_values=True)
    if not pairs:
        return query
    return "&".join(f"{quote(k, safe='')}={REDACTED if _is_secret(k) else quote(v, safe=':/')}" for k, v in pairs)


def redact_url(url: str) -> str:
    """The URL with secret query/fragment parameters and any userinfo password replaced."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_text(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:{REDACTED}@{hostport}" if ":" in userinfo else netloc
    fragment = _redact_pairs(parts.fragment) if "=" in parts.fragment else parts.fragment
    query = _redact_pairs(parts.query) if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, fragment))


def redact_header(name: str, value: str) -> str:
    """A header value fit for a report: credentials and cookie values removed, URLs redacted."""
    lowered = name.lower()
    if lowered in _SECRET_HEADERS:
        scheme = value.split(" ", 1)[0] if " " in value else ""
        return f"{scheme} {REDACTED}".strip()
    if lowered == "cookie":
        names = [item.split("=", 1)[0].strip() for item in value.split(";") if item.strip()]
        return "; ".join(f"{n}={REDACTED}" for n in names)
    if lowered == "set-cookie":
        first, _, attributes = value.partition(";")
        cookie_name = first.split("=", 1)[0].strip()
        return f"{cookie_name}={REDACTED}" + (f";{attributes}" if attributes else "")
    if lowered in _URL_HEADERS:
        return redact_url(value) if lowered == "location" else redact_text(value)
    return redact_text(value)


def redact_json(value: object) -> object:
    """A copy of a parsed JSON value with every secret member's value replaced."""
    if isinstance(value, dict):
        return {k: (REDACTED if isinstance(k, str) and _is_secret(k) else redact_json(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_json(v) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


def redact_text(text: str) -> str:
    """Free text (a body excerpt, an error message): secret ``name=value`` pairs, JSON members, credentials."""
    text = _JSON_RE.sub(lambda m: f'{m.group(1)}"{REDACTED}"', text)
    text = _PARAM_RE.sub(lambda m: f"{m.group(1)}={REDACTED}", text)
    text = _BEARER_RE.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    return _JWT_RE.sub(REDACTED, text)


def scrub(text: str, known: Iterable[str]) -> str:
    """Remove every known secret value (and its URL-encoded form) from ``text``."""
    for secret in sorted({s for s in known if len(s) >= _MIN_SCRUB_LENGTH}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
        encoded = quote(secret, safe="")
        if encoded != secret:
            text = text.replace(encoded, REDACTED)
    return text
