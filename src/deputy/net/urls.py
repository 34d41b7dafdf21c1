"""Strict parsing of the https URLs Deputy fetches on a client's behalf.

A URL chosen by a client decides where Deputy connects, so its host must have exactly one reading. The operating
system's resolver accepts spellings that are not DNS names at all (``0x7f.1``, ``0177.0.0.1``, ``2130706433``,
``127.1``), as well as a trailing dot and IPv6 zone ids; each would let a host pass a check made on its text and
then connect somewhere else. Such hosts are refused before anything resolves them, never normalised: only a
lower-case DNS name, a canonical dotted-quad IPv4 address or a canonical (RFC 5952) bracketed IPv6 address passes.

The URL is parsed a second time by :func:`urllib.parse.urlsplit` and refused when the two readings disagree, so
no parser differential can make Deputy check one host and connect to another.
"""

from __future__ import annotations

import ipaddress
import re
import string
import urllib.parse
from dataclasses import dataclass
from typing import Final

__all__ = ["DEFAULT_MAX_URL_LENGTH", "HttpsUrl", "UrlRefusedError", "host_in_domain", "parse_https_url"]

DEFAULT_MAX_URL_LENGTH: Final = 2000
HTTPS_PREFIX: Final = "https://"
HTTPS_PORT: Final = 443

_URI_CHARACTERS: Final = frozenset(string.ascii_letters + string.digits + "-._~:/?[]@!$&'()*+,;=%")
_LABEL_RE: Final = re.compile(r"[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?")
_NUMERIC_LABEL_RE: Final = re.compile(r"[0-9]+|0[xX][0-9A-Fa-f]*")
_PORT_RE: Final = re.compile(r"[1-9][0-9]{0,4}")
_MAX_HOSTNAME_LENGTH: Final = 253
_MAX_PORT: Final = 65535

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UrlRefusedError(ValueError):
    """The URL cannot be fetched; the message names the rule and never echoes the URL."""


@dataclass(frozen=True)
class HttpsUrl:
    """An https URL taken apart, every part exactly as written except ``host``, which is already canonical."""

    url: str
    host: str
    """A lower-case DNS name, or the canonical text of an IP address (IPv6 without brackets)."""
    port: int
    authority: str
    """``host[:port]`` as written: the ``Host`` header of the request."""
    target: str
    """The path and query as written: the request target."""
    address: IPAddress | None = None
    """Set when the host is an IP address literal; nothing needs to be resolved then."""


def parse_https_url(url: str, *, max_length: int = DEFAULT_MAX_URL_LENGTH) -> HttpsUrl:
    """Split ``url`` under the rules above.

    Raises:
        UrlRefusedError: not https, too long, not plain ASCII URI characters, a fragment, userinfo, a bad port,
            an ambiguous host, no path, or a parser disagreement.
    """
    _check_characters(url, max_length)
    if not url.startswith(HTTPS_PREFIX):
        raise UrlRefusedError("The URL must start with https://.")
    rest = url[len(HTTPS_PREFIX) :]
    end = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=-1)
    if end < 0 or rest[end] != "/":
        raise UrlRefusedError("The URL must have a path.")
    authority, target = rest[:end], rest[end:]
    host_text, port = _split_authority(authority)
    host, address = _canonical_host(host_text)
    parsed = HttpsUrl(url=url, host=host, port=port, authority=authority, target=target, address=address)
    _check_same_reading(parsed)
    return parsed


def host_in_domain(host: str, domain: str) -> bool:
    """Whether ``host`` is ``domain`` or lies under it, on a label boundary.

    ``example.com`` covers ``example.com`` and ``a.example.com``, never ``badexample.com``. IP addresses belong
    to no domain.
    """
    domain = domain.lower().strip(".")
    return bool(domain) and (host == domain or host.endswith("." + domain))


def _check_characters(url: str, max_length: int) -> None:
    if not url or len(url) > max_length:
        raise UrlRefusedError(f"The URL must be 1 to {max_length} characters long.")
    if "#" in url:
        raise UrlRefusedError("The URL must not contain a fragment.")
    if any(char not in _URI_CHARACTERS for char in url):
        raise UrlRefusedError("The URL contains characters that are not plain URI characters.")


def _split_authority(authority: str) -> tuple[str, int]:
    """``host[:port]``; userinfo is refused because it disguises the real host (RFC 9700 §4.1.3)."""
    if "@" in authority:
        raise UrlRefusedError("The URL must not contain userinfo.")
    if authority.startswith("["):
        close = authority.find("]")
        if close < 0:
            raise UrlRefusedError("The URL has a malformed IPv6 literal.")
        host, after = authority[: close + 1], authority[close + 1 :]
    else:
        host, colon, port_text = authority.partition(":")
        after = colon + port_text
    if not after:
        return host, HTTPS_PORT
    port_text = after[1:] if after.startswith(":") else ""
    if not _PORT_RE.fullmatch(port_text) or int(port_text) > _MAX_PORT:
        raise UrlRefusedError("The URL port must be a number from 1 to 65535 without leading zeros.")
    return host, int(port_text)


def _canonical_host(host: str) -> tuple[str, IPAddress | None]:
    """The host if it has exactly one reading, with its address when it is an IP literal."""
    if not host:
        raise UrlRefusedError("The URL must have a host.")
    if "%" in host:
        raise UrlRefusedError("The URL host must not be percent-encoded or carry a zone id.")
    if host.startswith("["):
        address = _canonical_ipv6(host[1:-1] if host.endswith("]") else "")
        return str(address), address
    if _NUMERIC_LABEL_RE.fullmatch(host.rsplit(".", 1)[-1]):
        ipv4 = _canonical_ipv4(host)
        return host, ipv4
    _check_hostname(host)
    return host, None


def _canonical_ipv6(literal: str) -> ipaddress.IPv6Address:
    try:
        address = ipaddress.IPv6Address(literal)
    except ValueError:
        raise UrlRefusedError("The URL host is not a valid IPv6 literal.") from None
    if address.compressed != literal:
        raise UrlRefusedError("The URL host must be an IPv6 literal in its canonical lower-case form.")
    return address


def _canonical_ipv4(host: str) -> ipaddress.IPv4Address:
    """Dotted-quad decimal only: ``127.1``, ``0x7f.0.0.1``, ``0177.0.0.1`` and ``2130706433`` are refused."""
    try:
        address = ipaddress.IPv4Address(host)
    except ValueError:
        raise UrlRefusedError("The URL host is an ambiguous numeric address.") from None
    if str(address) != host:
        raise UrlRefusedError("The URL host is an ambiguous numeric address.")
    return address


def _check_hostname(host: str) -> None:
    """Lower-case RFC 1123 labels, no empty label (so no trailing dot), punycode that decodes (RFC 5891 §5.3)."""
    labels = host.split(".")
    if len(host) > _MAX_HOSTNAME_LENGTH or not all(_LABEL_RE.fullmatch(label) for label in labels):
        raise UrlRefusedError("The URL host must be a lower-case DNS name without a trailing dot.")
    for label in labels:
        if label.startswith("xn--"):
            try:
                label.encode("ascii").decode("idna")
            except UnicodeError:
                raise UrlRefusedError("The URL host contains invalid punycode.") from None


def _check_same_reading(parsed: HttpsUrl) -> None:
    """The standard library must see the same host, port, path and query."""
    try:
        split = urllib.parse.urlsplit(parsed.url)
        port = split.port or HTTPS_PORT
    except ValueError:
        raise UrlRefusedError("The URL is malformed.") from None
    path, _, query = parsed.target.partition("?")
    theirs = (split.scheme, split.hostname, port, split.path, split.query)
    if theirs != ("https", parsed.host, parsed.port, path, query):
        raise UrlRefusedError("The URL is ambiguous.")
