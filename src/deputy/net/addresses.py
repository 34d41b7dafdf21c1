"""Where an outbound connection may go: public unicast addresses only (MCP security best practices, "SSRF").

A fetch on a client's behalf must never reach Deputy's own network: the cloud metadata service
(169.254.169.254), a database on 10.0.0.5, an admin page on 127.0.0.1. The check runs on the *resolved* addresses,
every one of them, and the connection then goes to the address that was checked (see ``deputy.net.fetcher``).

Decisions, stated once:

* The refused ranges are listed explicitly (with their RFC) and ``ipaddress``'s own ``is_global`` must also hold,
  so a range missing from either list is still refused by the other.
* IPv6 forms that carry an IPv4 address are never trusted on their own: IPv4-mapped (``::ffff:0:0/96``),
  IPv4-compatible (``::/96``), 6to4 (``2002::/16``) and Teredo (``2001::/32``) are refused outright, since no
  legitimate document host needs them; the NAT64 well-known prefix (``64:ff9b::/96``, used by IPv6-only networks
  with DNS64) is judged by the IPv4 address it embeds, and the local-use NAT64 prefix (``64:ff9b:1::/48``) is
  refused.
* ``allow_loopback`` (tests only) admits 127.0.0.0/8 and ``::1`` and nothing else: every other private range stays
  refused, and so does loopback hidden inside an IPv6 form.
"""

from __future__ import annotations

import ipaddress
from typing import Final

__all__ = ["IPAddress", "address_refusal"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network

_LOOPBACK_V4: Final = _V4("127.0.0.0/8")
_LOOPBACK_V6: Final = ipaddress.IPv6Address("::1")
_NAT64_WELL_KNOWN: Final = _V6("64:ff9b::/96")  # RFC 6052

_REFUSED_V4: Final[tuple[tuple[_V4, str], ...]] = (
    (_V4("0.0.0.0/8"), "unspecified"),  # RFC 791 "this network"
    (_V4("10.0.0.0/8"), "private"),  # RFC 1918
    (_V4("100.64.0.0/10"), "shared"),  # RFC 6598 carrier-grade NAT
    (_LOOPBACK_V4, "loopback"),  # RFC 1122
    (_V4("169.254.0.0/16"), "link-local"),  # RFC 3927, cloud metadata services
    (_V4("172.16.0.0/12"), "private"),  # RFC 1918
    (_V4("192.0.0.0/24"), "reserved"),  # RFC 6890 IETF protocol assignments
    (_V4("192.0.2.0/24"), "documentation"),  # RFC 5737
    (_V4("192.88.99.0/24"), "reserved"),  # RFC 7526 former 6to4 relay anycast
    (_V4("192.168.0.0/16"), "private"),  # RFC 1918
    (_V4("198.18.0.0/15"), "reserved"),  # RFC 2544 benchmarking
    (_V4("198.51.100.0/24"), "documentation"),  # RFC 5737
    (_V4("203.0.113.0/24"), "documentation"),  # RFC 5737
    (_V4("224.0.0.0/4"), "multicast"),  # RFC 5771
    (_V4("240.0.0.0/4"), "reserved"),  # RFC 1112, includes 255.255.255.255
)

_REFUSED_V6: Final[tuple[tuple[_V6, str], ...]] = (
    (_V6("::/128"), "unspecified"),  # RFC 4291
    (_V6("::1/128"), "loopback"),  # RFC 4291
    (_V6("::ffff:0:0/96"), "ipv4-mapped"),  # RFC 4291 §2.5.5.2
    (_V6("::/96"), "ipv4-compatible"),  # RFC 4291 §2.5.5.1 (deprecated)
    (_V6("64:ff9b:1::/48"), "nat64-local"),  # RFC 8215
    (_V6("100::/64"), "discard"),  # RFC 6666
    (_V6("2001::/23"), "reserved"),  # RFC 2928 IETF protocol assignments, includes Teredo 2001::/32
    (_V6("2001:db8::/32"), "documentation"),  # RFC 3849
    (_V6("2002::/16"), "6to4"),  # RFC 3056
    (_V6("3fff::/20"), "documentation"),  # RFC 9637
    (_V6("5f00::/16"), "reserved"),  # RFC 9602 SRv6 SIDs
    (_V6("fc00::/7"), "unique-local"),  # RFC 4193
    (_V6("fe80::/10"), "link-local"),  # RFC 4291
    (_V6("fec0::/10"), "site-local"),  # RFC 3879 (deprecated)
    (_V6("ff00::/8"), "multicast"),  # RFC 4291
)


def address_refusal(address: IPAddress, *, allow_loopback: bool = False) -> str | None:
    """Why a connection to ``address`` is refused (a short reason for the log), or ``None`` when it may go there.

    ``allow_loopback`` admits exactly 127.0.0.0/8 and ``::1``; it exists so that tests can serve documents from
    a real loopback server, and is off in production.
    """
    if allow_loopback and (address == _LOOPBACK_V6 or (address.version == 4 and address in _LOOPBACK_V4)):
        return None
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id is not None:
            return "scoped"
        if address in _NAT64_WELL_KNOWN:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
            reason = address_refusal(embedded)
            return None if reason is None else f"nat64-{reason}"
        return _refusal(address, _REFUSED_V6)
    return _refusal(address, _REFUSED_V4)


def _refusal(address: IPAddress, refused: tuple[tuple[_V4, str], ...] | tuple[tuple[_V6, str], ...]) -> str | None:
    for network, reason in refused:
        if address in network:
            return reason
    return None if address.is_global else "not-global"
