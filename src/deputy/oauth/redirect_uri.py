"""Redirect URI registration policy and matching: the one place an authorization code can leave Deputy.

A redirect URI is where Deputy sends an authorization code, so a lax rule here turns Deputy into a
confused deputy that hands codes to whoever registered the most permissive URI. The policy follows
OAuth 2.1 §2.3 / RFC 9700 §2.1 (exact matching, no wildcards, no open redirects), RFC 8252 (native
apps: loopback and private-use schemes) and the MCP security best practices.

Decisions, stated once:

* Only URIs (RFC 3986 §2) are accepted, never IRIs: every character must be an unreserved, reserved
  or percent-encoded ASCII character. Unicode hosts must be sent as punycode (RFC 5891 §4.4).
* Upper-case schemes and hosts are accepted (RFC 3986 §3.1 and §3.2.2 make them case-insensitive)
  and the URI is returned UNCHANGED: registration stores exactly what was registered and matching is
  exact string comparison, so a client that registers ``HTTPS://Example.com/cb`` must also send it
  spelled that way. Policy decisions (scheme allow-list, loopback detection) use the lower-cased form.
* A URI is parsed twice — by the RFC 3986 Appendix B regular expression and by
  :func:`urllib.parse.urlsplit` — and refused when the two disagree, so no parser differential
  can make Deputy validate one host and a browser visit another.
"""

from __future__ import annotations

import ipaddress
import re
import string
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from deputy.errors import InvalidRedirectUriError

__all__ = [
    "ALWAYS_REFUSED_SCHEMES",
    "MAX_REDIRECT_URI_LENGTH",
    "check_redirect_uri_matches",
    "is_loopback_redirect_uri",
    "is_on_origin",
    "redirect_host",
    "validate_registered_redirect_uri",
]

MAX_REDIRECT_URI_LENGTH: Final = 2000
"""Longer URIs are refused: browsers and proxies truncate them unpredictably (RFC 9110 §4.1)."""

ALWAYS_REFUSED_SCHEMES: Final = frozenset(
    {"javascript", "data", "file", "vbscript", "about", "blob", "ftp", "ws", "wss"}
)
"""Schemes that can never deliver a code safely, even if an operator lists them as custom schemes."""

_WEB_SCHEMES: Final = frozenset({"http", "https"})
_URI_CHARACTERS: Final = frozenset(string.ascii_letters + string.digits + "-._~:/?#[]@!$&'()*+,;=%")
_SCHEME_RE: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*")
_RFC3986_RE: Final = re.compile(
    r"(?P<scheme>[^:/?#]+):(?://(?P<authority>[^/?#]*))?(?P<path>[^?#]*)"
    r"(?:\?(?P<query>[^#]*))?(?:#(?P<fragment>.*))?",
    re.DOTALL,
)
_BAD_PERCENT_RE: Final = re.compile(r"%(?![0-9A-Fa-f]{2})")
_PORT_RE: Final = re.compile(r"[1-9][0-9]{0,4}")
_LABEL_RE: Final = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?")
_NUMERIC_LABEL_RE: Final = re.compile(r"[0-9]+|0[xX][0-9A-Fa-f]*")
_MAX_HOSTNAME_LENGTH: Final = 253
_MAX_PORT: Final = 65535
_IPV6_LOOPBACK: Final = "[::1]"
_DOT_SEGMENTS: Final = frozenset({".", ".."})


@dataclass(frozen=True)
class _Parts:
    """A URI split per RFC 3986 Appendix B, every component exactly as written (``None`` = absent)."""

    scheme: str
    authority: str | None
    path: str
    query: str | None
    fragment: str | None

    @property
    def host(self) -> str:
        return _split_host_port(self.authority or "")[0]

    @property
    def port(self) -> str | None:
        return _split_host_port(self.authority or "")[1]


def validate_registered_redirect_uri(
    uri: str, *, allowed_custom_schemes: frozenset[str] = frozenset(), forbidden_origin: str | None = None
) -> str:
    """Return ``uri`` unchanged if it may be registered, else raise :class:`InvalidRedirectUriError`.

    RFC 7591 §2 lets the server refuse any redirect URI; OAuth 2.1 §2.3.1 and RFC 9700 §2.1 require
    absolute URIs without fragments; RFC 8252 §7.3 / §8.3 restrict plain ``http`` to loopback and
    §7.1 allows private-use schemes, which Deputy accepts only when the operator lists them.
    """
    _validate_characters(uri)
    parts = _parse(uri)
    scheme = parts.scheme.lower()
    if scheme in _WEB_SCHEMES:
        _validate_web_uri(parts, scheme)
    elif _is_allowed_custom_scheme(scheme, allowed_custom_schemes):
        _validate_custom_scheme_uri(parts)
    else:
        raise _refused("The redirect URI scheme is not allowed.")
    _validate_path(parts.path)
    # Exact origin here; a loopback URI registered on another port can still be requested on Deputy's port at
    # authorization time (RFC 8252 §7.3 lets the port vary), which /authorize refuses with ``is_on_origin``.
    if forbidden_origin is not None and is_on_origin(uri, forbidden_origin):
        raise _refused("The redirect URI must not point at this authorization server.")
    return uri


def web_origin(uri: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an http(s) URI, lower-cased, with the default port filled in; None otherwise."""
    parts = _split(uri)
    if parts is None or parts.authority is None or parts.scheme.lower() not in _WEB_SCHEMES:
        return None
    scheme = parts.scheme.lower()
    port = parts.port
    try:
        number = int(port) if port else (443 if scheme == "https" else 80)
    except ValueError:
        return None
    return scheme, parts.host.lower().rstrip("."), number


def is_on_origin(uri: str, origin_of: str) -> bool:
    """Whether ``uri`` points at the origin of ``origin_of`` (Deputy's issuer).

    A redirect URI on Deputy's own origin would let a consent-page decision (even a Deny) navigate the browser
    back into Deputy as a *same-origin* request, which is what remembered consent trusts; so none is accepted.
    """
    mine = web_origin(origin_of)
    return mine is not None and web_origin(uri) == mine


def check_redirect_uri_matches(registered: Sequence[str], requested: str) -> bool:
    """Whether ``requested`` is one of the ``registered`` redirect URIs.

    Exact string comparison (OAuth 2.1 §2.3.1, RFC 9700 §2.1) with the single RFC 8252 §7.3
    exception: for an ``http`` loopback URI the port may differ, because native apps bind an
    ephemeral port at run time. Nothing else may vary.
    """
    return any(_matches(candidate, requested) for candidate in registered)


def is_loopback_redirect_uri(uri: str) -> bool:
    """Whether codes for ``uri`` can only be received on the user's own device (RFC 8252 §7.3).

    True for ``http`` and ``https`` URIs whose host is ``localhost``, an IPv4 literal in
    127.0.0.0/8 or ``[::1]``; the consent page uses it to say so.
    """
    parts = _split(uri)
    return (
        parts is not None
        and parts.authority is not None
        and parts.scheme.lower() in _WEB_SCHEMES
        and _is_loopback_host(parts.host)
    )


def redirect_host(uri: str) -> str:
    """The party that receives the code, for the consent page to emphasise (RFC 9700 §4.1.1).

    The lower-cased host for ``http``/``https`` URIs; the scheme for private-use schemes, because the
    operating system routes those by scheme alone (RFC 8252 §7.1).
    """
    parts = _split(uri)
    if parts is None:
        raise _refused("The redirect URI is not an absolute URI.")
    if parts.scheme.lower() not in _WEB_SCHEMES:
        return parts.scheme.lower()
    if not parts.host:
        raise _refused("The redirect URI has no host.")
    return parts.host.lower()


def _refused(description: str) -> InvalidRedirectUriError:
    """The error for every refusal; the description never echoes the URI back (RFC 7591 §3.2.2)."""
    return InvalidRedirectUriError(description)


def _validate_characters(uri: str) -> None:
    """Refuse what is not a plain RFC 3986 §2 URI before any parser can reinterpret it."""
    if not uri:
        raise _refused("The redirect URI must not be empty.")
    if len(uri) > MAX_REDIRECT_URI_LENGTH:
        raise _refused(f"The redirect URI must not be longer than {MAX_REDIRECT_URI_LENGTH} characters.")
    bad = next((char for char in uri if char not in _URI_CHARACTERS), None)
    if bad is not None:
        raise _refused(_bad_character_description(bad))
    if "#" in uri:
        raise _refused("The redirect URI must not contain a fragment.")
    if _BAD_PERCENT_RE.search(uri):
        raise _refused("The redirect URI contains a malformed percent-encoding.")


def _bad_character_description(char: str) -> str:
    """Name the class of a forbidden character without echoing it (it may be invisible)."""
    if char.isspace() or ord(char) < 0x20 or ord(char) == 0x7F:
        return "The redirect URI must not contain whitespace or control characters."
    if char == "\\":
        return "The redirect URI must not contain backslashes."
    if not char.isascii():
        return "The redirect URI must be ASCII; percent-encode the path and use punycode hosts."
    return "The redirect URI contains a character that is not allowed in a URI."


def _split(uri: str) -> _Parts | None:
    """Split per RFC 3986 Appendix B without validating anything; ``None`` when there is no scheme."""
    match = _RFC3986_RE.fullmatch(uri)
    if match is None:
        return None
    return _Parts(
        scheme=match["scheme"],
        authority=match["authority"],
        path=match["path"],
        query=match["query"],
        fragment=match["fragment"],
    )


def _parse(uri: str) -> _Parts:
    """Split ``uri`` and insist that :func:`urllib.parse.urlsplit` sees exactly the same components."""
    parts = _split(uri)
    if parts is None or not _SCHEME_RE.fullmatch(parts.scheme):
        raise _refused("The redirect URI must be an absolute URI.")
    try:
        stdlib = urllib.parse.urlsplit(uri)
        _ = stdlib.port  # raises ValueError for a port urlsplit cannot read
    except ValueError:
        raise _refused("The redirect URI is malformed.") from None
    ours = (parts.scheme.lower(), parts.authority or "", parts.path, parts.query or "")
    if (stdlib.scheme, stdlib.netloc, stdlib.path, stdlib.query) != ours:
        raise _refused("The redirect URI is ambiguous.")
    return parts


def _validate_web_uri(parts: _Parts, scheme: str) -> None:
    """``https`` with a real host, or ``http`` to loopback only (OAuth 2.1 §2.3.1, RFC 8252 §8.3)."""
    if parts.authority is None:
        raise _refused("The redirect URI must have a host.")
    _validate_authority(parts.authority)
    if scheme == "http" and not _is_loopback_host(parts.host):
        raise _refused("Plain http redirect URIs are only allowed for loopback hosts.")


def _is_allowed_custom_scheme(scheme: str, allowed: frozenset[str]) -> bool:
    """A private-use scheme (RFC 8252 §7.1) the operator allowed and that is not inherently unsafe."""
    return scheme not in ALWAYS_REFUSED_SCHEMES and scheme in {name.lower() for name in allowed}


def _validate_custom_scheme_uri(parts: _Parts) -> None:
    """``com.example.app:/cb`` (RFC 8252 §7.1) needs a path; an authority, if any, follows the host rules."""
    if parts.authority is not None:
        _validate_authority(parts.authority)
    elif not parts.path:
        raise _refused("A private-use scheme redirect URI must have a path.")


def _validate_authority(authority: str) -> None:
    """No userinfo (RFC 9700 §4.1.3 warns it disguises the real host), a valid port and host."""
    if "@" in authority:
        raise _refused("The redirect URI must not contain userinfo.")
    host, port = _split_host_port(authority)
    if port is not None and not _is_valid_port(port):
        raise _refused("The redirect URI port must be a number from 1 to 65535.")
    _validate_host(host)


def _split_host_port(authority: str) -> tuple[str, str | None]:
    """Split ``host[:port]`` (RFC 3986 §3.2.2), keeping IPv6 brackets; the port is ``None`` when absent."""
    end = authority.find("]") + 1 if authority.startswith("[") else 0
    colon = authority.find(":", end)
    if colon < 0:
        return authority, None
    return authority[:colon], authority[colon + 1 :]


def _is_valid_port(port: str) -> bool:
    """Decimal 1-65535 without leading zeros: one spelling per port, so exact matching stays exact."""
    return _PORT_RE.fullmatch(port) is not None and int(port) <= _MAX_PORT


def _validate_host(host: str) -> None:
    """A DNS name (RFC 1123 §2.1), a canonical IPv4 literal or a canonical bracketed IPv6 literal."""
    if not host:
        raise _refused("The redirect URI must have a host.")
    if "%" in host:
        raise _refused("The redirect URI host must not be percent-encoded.")
    if host.startswith("["):
        _validate_ipv6_literal(host)
    elif _NUMERIC_LABEL_RE.fullmatch(host.rsplit(".", 1)[-1]):
        _validate_ipv4_literal(host)
    else:
        _validate_hostname(host)


def _validate_ipv6_literal(host: str) -> None:
    """Only the canonical RFC 5952 spelling, and no IPv4-mapped addresses that hide an IPv4 host."""
    literal = host[1:-1] if host.endswith("]") else ""
    try:
        address = ipaddress.IPv6Address(literal)
    except ValueError:
        raise _refused("The redirect URI host is not a valid IPv6 literal.") from None
    if address.compressed != literal.lower() or address.ipv4_mapped is not None:
        raise _refused("The redirect URI host is an ambiguous IPv6 literal.")


def _validate_ipv4_literal(host: str) -> None:
    """Refuse ``127.1``, ``0x7f.0.0.1``, ``2130706433``, ``0177.0.0.1``: browsers read them as IPv4
    (WHATWG URL "ends in a number") but they have more than one spelling, so only dotted-quad is allowed.
    """
    if not _is_canonical_ipv4(host):
        raise _refused("The redirect URI host is an ambiguous numeric address.")


def _is_canonical_ipv4(host: str) -> bool:
    """Dotted-quad decimal without leading zeros (``ipaddress`` refuses them since Python 3.9.5)."""
    try:
        return str(ipaddress.IPv4Address(host)) == host
    except ValueError:
        return False


def _validate_hostname(host: str) -> None:
    """RFC 1123 labels, no trailing dot, and punycode labels that actually decode (RFC 5891 §5.3)."""
    labels = host.split(".")
    if len(host) > _MAX_HOSTNAME_LENGTH or not all(_LABEL_RE.fullmatch(label) for label in labels):
        raise _refused("The redirect URI host is not a valid host name.")
    if not all(_is_decodable_label(label) for label in labels):
        raise _refused("The redirect URI host contains invalid punycode.")


def _is_decodable_label(label: str) -> bool:
    """An ``xn--`` label must be valid punycode, or browsers and Deputy may disagree about the host."""
    if not label.lower().startswith("xn--"):
        return True
    try:
        label.encode("ascii").decode("idna")
    except UnicodeError:
        return False
    return True


def _is_loopback_host(host: str) -> bool:
    """``localhost``, canonical 127.0.0.0/8 or ``[::1]`` (RFC 8252 §7.3), case-insensitively."""
    lowered = host.lower()
    if lowered in ("localhost", _IPV6_LOOPBACK):
        return True
    return _is_canonical_ipv4(lowered) and ipaddress.IPv4Address(lowered).is_loopback


def _validate_path(path: str) -> None:
    """No dot segments, however encoded: servers that normalise them would turn ``/cb/../x`` into ``/x``."""
    decoded = _fully_unquoted(path)
    if any(segment in _DOT_SEGMENTS for segment in re.split(r"[/\\]", decoded)):
        raise _refused("The redirect URI path must not contain dot segments.")
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in decoded):
        raise _refused("The redirect URI path must not contain encoded control characters.")


def _fully_unquoted(text: str) -> str:
    """Percent-decode until nothing changes, defeating double encoding (``%252e``); each pass shrinks."""
    decoded = urllib.parse.unquote(text)
    while decoded != text:
        text, decoded = decoded, urllib.parse.unquote(decoded)
    return decoded


def _matches(registered: str, requested: str) -> bool:
    """Exact match, or the RFC 8252 §7.3 loopback port variance."""
    return registered == requested or _is_loopback_port_variant(registered, requested)


def _is_loopback_port_variant(registered: str, requested: str) -> bool:
    """Same scheme, host, path and query character for character; only a well-formed port may differ."""
    ours, theirs = _split(registered), _split(requested)
    if ours is None or theirs is None or ours.authority is None or theirs.authority is None:
        return False
    if ours.scheme.lower() != "http" or not _is_loopback_host(ours.host):
        return False
    if theirs.port is not None and not _is_valid_port(theirs.port):
        return False
    return _without_port(ours) == _without_port(theirs)


def _without_port(parts: _Parts) -> tuple[str, str, str, str | None, str | None]:
    """Every component but the port, exactly as written."""
    return (parts.scheme, parts.host, parts.path, parts.query, parts.fragment)
