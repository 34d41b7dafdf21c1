"""Turn an :class:`Exchange` into redacted :class:`Evidence`: the request line and the part of the response that
matters for the check."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Final

from deputy.scanner.model import Evidence, Exchange
from deputy.scanner.redact import redact_header, redact_json, redact_text, redact_url

__all__ = ["describe", "request_line"]

_REQUEST_HEADERS: Final = ("origin", "authorization", "content-type")
_EXCERPT: Final = 300


def request_line(exchange: Exchange) -> str:
    line = f"{exchange.method} {redact_url(exchange.url)}"
    extras = [
        f"{name.title()}: {redact_header(name, value)}"
        for name in _REQUEST_HEADERS
        if (value := exchange.request_header(name)) is not None
    ]
    if exchange.request_body_size:
        extras.append(f"body: {exchange.request_body_size} bytes")
    return "; ".join([line, *extras])


def describe(
    exchange: Exchange,
    *,
    headers: Sequence[str] = (),
    json_keys: Sequence[str] = (),
    body: bool = False,
    note: str = "",
) -> Evidence:
    """Evidence for ``exchange``: status, the named response headers, selected JSON members or a body excerpt."""
    if not exchange.answered:
        return Evidence(request_line(exchange), exchange.failure + (f"; {note}" if note else ""))
    parts = [f"HTTP {exchange.status}"]
    for name in headers:
        for value in exchange.header_list(name):
            parts.append(f"{name.title()}: {redact_header(name, value)}")
    if json_keys:
        doc = exchange.json_object()
        if doc is not None:
            subset = {k: doc[k] for k in json_keys if k in doc}
            if subset:
                parts.append("body: " + json.dumps(redact_json(subset), sort_keys=True))
            absent = [k for k in json_keys if k not in doc]
            if absent:
                parts.append("absent: " + ", ".join(absent))
    if body and exchange.body:
        excerpt = " ".join(exchange.text[:_EXCERPT].split())
        parts.append("body: " + redact_text(excerpt) + ("…" if len(exchange.body) > _EXCERPT else ""))
    if note:
        parts.append(note)
    return Evidence(request_line(exchange), "; ".join(parts))
