"""Parsers for the response headers the checks read: WWW-Authenticate, Set-Cookie, CSP, Cache-Control."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = [
    "Challenge",
    "Cookie",
    "cache_directives",
    "csp_directives",
    "parse_set_cookie",
    "parse_www_authenticate",
]

_TCHAR: Final = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_TOKEN68: Final = _TCHAR | frozenset("/=")


@dataclass(frozen=True)
class Challenge:
    """One challenge of a WWW-Authenticate header (RFC 9110 §11.6.1); parameter names lower-cased."""

    scheme: str
    params: tuple[tuple[str, str], ...] = ()
    token68: str | None = None

    def param(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.params if k == lowered), None)


class _Reader:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def done(self) -> bool:
        return self.pos >= len(self.text)

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip_ws(self) -> None:
        while self.peek() in (" ", "\t") and not self.done():
            self.pos += 1

    def skip_commas(self) -> None:
        while self.peek() in (" ", "\t", ",") and not self.done():
            self.pos += 1

    def token(self, chars: frozenset[str] = _TCHAR) -> str:
        start = self.pos
        while not self.done() and self.text[self.pos] in chars:
            self.pos += 1
        return self.text[start : self.pos]

    def quoted(self) -> str:
        """A quoted-string, the opening quote at ``pos``; an unterminated one runs to the end."""
        self.pos += 1
        out: list[str] = []
        while not self.done():
            char = self.text[self.pos]
            self.pos += 1
            if char == "\\" and not self.done():
                out.append(self.text[self.pos])
                self.pos += 1
            elif char == '"':
                break
            else:
                out.append(char)
        return "".join(out)


def _read_param(reader: _Reader) -> tuple[str, str] | None:
    """``name = value`` at the reader's position, or ``None`` (and the position restored) if it is not one."""
    start = reader.pos
    reader.skip_ws()
    name = reader.token()
    reader.skip_ws()
    if not name or reader.peek() != "=":
        reader.pos = start
        return None
    reader.pos += 1
    reader.skip_ws()
    value = reader.quoted() if reader.peek() == '"' else reader.token()
    return name.lower(), value


def parse_www_authenticate(values: tuple[str, ...] | list[str]) -> tuple[Challenge, ...]:
    """Every challenge in every WWW-Authenticate field value; malformed parts are skipped, never raised."""
    challenges: list[Challenge] = []
    for value in values:
        reader = _Reader(value)
        while True:
            reader.skip_commas()
            scheme = reader.token()
            if not scheme:
                if reader.done():
                    break
                reader.pos += 1  # junk: skip a character and try again
                continue
            challenges.append(_read_challenge(reader, scheme))
    return tuple(challenges)


def _read_challenge(reader: _Reader, scheme: str) -> Challenge:
    reader.skip_ws()
    save = reader.pos
    candidate = reader.token(_TOKEN68)
    reader.skip_ws()
    if candidate and candidate.endswith("=") and (reader.done() or reader.peek() == ","):
        return Challenge(scheme, token68=candidate)
    reader.pos = save
    params: list[tuple[str, str]] = []
    while True:
        param = _read_param(reader)
        if param is None:
            break
        params.append(param)
        reader.skip_ws()
        if reader.peek() != ",":
            break
        save = reader.pos
        reader.skip_commas()
        if _read_param(_Reader(reader.text[reader.pos :])) is None:
            reader.pos = save  # the next item is a new challenge
            break
    return Challenge(scheme, tuple(params))


@dataclass(frozen=True)
class Cookie:
    """A Set-Cookie header: the name and the attributes (names lower-cased); the value is never kept."""

    name: str
    attributes: tuple[tuple[str, str], ...]

    def has(self, attribute: str) -> bool:
        return any(k == attribute.lower() for k, _ in self.attributes)

    def get(self, attribute: str) -> str | None:
        return next((v for k, v in self.attributes if k == attribute.lower()), None)

    @property
    def is_deletion(self) -> bool:
        """A cookie being cleared (Max-Age=0 or an expiry in the past is sent by servers to delete)."""
        return self.get("max-age") == "0" or "1970" in (self.get("expires") or "")


def parse_set_cookie(value: str) -> Cookie:
    first, *rest = value.split(";")
    name = first.split("=", 1)[0].strip()
    attributes: list[tuple[str, str]] = []
    for item in rest:
        key, _, val = item.strip().partition("=")
        if key:
            attributes.append((key.strip().lower(), val.strip()))
    return Cookie(name, tuple(attributes))


def csp_directives(values: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """Directive name → source list, over every Content-Security-Policy header (the first wins per name)."""
    out: dict[str, tuple[str, ...]] = {}
    for value in values:
        for directive in value.split(";"):
            words = directive.split()
            if words:
                out.setdefault(words[0].lower(), tuple(w.lower() for w in words[1:]))
    return out


def cache_directives(values: tuple[str, ...]) -> frozenset[str]:
    """Cache-Control directive names, lower-cased."""
    return frozenset(
        item.split("=", 1)[0].strip().lower() for value in values for item in value.split(",") if item.strip()
    )
