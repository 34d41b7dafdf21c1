"""URL rules: canonical resource form, loopback, well-known discovery URLs, and the host allowlist."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "HostPolicy",
    "as_metadata_urls",
    "authority",
    "canonical_url",
    "is_loopback_host",
    "is_secure_url",
    "origin",
    "prm_urls",
    "redirect_host",
    "redirect_variants",
]

_DEFAULT_PORTS: Final = {"http": 80, "https": 443}


def is_loopback_host(host: str | None) -> bool:
    """``localhost`` (and ``*.localhost``), 127.0.0.0/8 or ``::1``."""
    if not host:
        return False
    host = host.lower().strip("[]")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_secure_url(url: str) -> bool:
    """https, or http to a loopback host (MCP security considerations, Communication Security)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme == "https" or (scheme == "http" and is_loopback_host(parts.hostname))


def authority(url: str) -> str:
    """``host:port`` with the effective port, lower-cased; IPv6 hosts in brackets. Empty if there is no host."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if not host:
        return ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    port = port or _DEFAULT_PORTS.get(parts.scheme.lower())
    return f"{host}:{port}" if port else host


def origin(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "", "", ""))


def canonical_url(url: str) -> str:
    """MCP canonical server URI: lower-case scheme and host, no default port, no fragment, no trailing slash."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host if port in (None, _DEFAULT_PORTS.get(scheme)) else f"{host}:{port}"
    if parts.username is not None:
        netloc = f"{parts.username}@{netloc}"
    path = parts.path.rstrip("/") if parts.path not in ("", "/") else ""
    return urlunsplit((scheme, netloc, path, parts.query, ""))


def prm_urls(resource_url: str) -> tuple[tuple[str, str], ...]:
    """RFC 9728 §3.1 well-known URLs for a resource, in the order MCP clients try them: path-inserted, root."""
    parts = urlsplit(resource_url)
    base = urlunsplit((parts.scheme, parts.netloc, "", "", ""))
    root = f"{base}/.well-known/oauth-protected-resource"
    path = parts.path.rstrip("/")
    if path:
        return (("path-inserted", f"{root}{path}"), ("root", root))
    return (("root", root),)


def as_metadata_urls(issuer: str) -> tuple[str, ...]:
    """Where an issuer's metadata lives (MCP authorization-server-discovery, RFC 8414 §3.1, OIDC Discovery §4).

    With a path: RFC 8414 path-inserted, OIDC path-inserted, OIDC path-appended. Without: RFC 8414, then OIDC.
    """
    parts = urlsplit(issuer)
    base = urlunsplit((parts.scheme, parts.netloc, "", "", ""))
    path = parts.path.rstrip("/")
    if path:
        return (
            f"{base}/.well-known/oauth-authorization-server{path}",
            f"{base}/.well-known/openid-configuration{path}",
            f"{base}{path}/.well-known/openid-configuration",
        )
    return (f"{base}/.well-known/oauth-authorization-server", f"{base}/.well-known/openid-configuration")


@dataclass(frozen=True)
class HostPolicy:
    """The authorities the scanner may contact: the target's, those its metadata names, and ``--allow-host``.

    An entry ``host:port`` allows that authority; a bare ``host`` (from ``--allow-host``) allows any port.
    """

    authorities: frozenset[str] = frozenset()
    hosts: frozenset[str] = frozenset()

    def allows(self, url: str) -> bool:
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https"):
            return False
        auth = authority(url)
        host = auth.rsplit(":", 1)[0] if not auth.endswith("]") else auth
        return auth in self.authorities or host in self.hosts

    def with_url(self, url: str) -> HostPolicy:
        auth = authority(url)
        if not auth or urlsplit(url).scheme.lower() not in ("http", "https"):
            return self
        return HostPolicy(self.authorities | {auth}, self.hosts)

    @staticmethod
    def parse_allow(value: str) -> HostPolicy:
        """One ``--allow-host`` value: ``host`` or ``host:port`` (IPv6 in brackets)."""
        value = value.strip().lower()
        if not value:
            raise ValueError("empty host")
        if (value.startswith("[") and value.endswith("]")) or (":" not in value):
            return HostPolicy(hosts=frozenset({value}))
        host, _, port = value.rpartition(":")
        if not port.isdigit() or not host:
            raise ValueError(f"not a host or host:port: {value!r}")
        return HostPolicy(authorities=frozenset({f"{host}:{int(port)}"}))

    def union(self, other: HostPolicy) -> HostPolicy:
        return HostPolicy(self.authorities | other.authorities, self.hosts | other.hosts)


def redirect_host(url: str) -> str:
    """The host a redirect URI delivers to, as a consent page would show it."""
    return (urlsplit(url).hostname or "").lower()


def redirect_variants(uri: str) -> tuple[tuple[str, str], ...]:
    """Near-misses of a registered redirect URI that an exact-matching AS must refuse.

    The port is varied only for non-loopback URIs: RFC 8252 §7.3 lets a loopback port differ.
    """
    p = urlsplit(uri)
    scheme, netloc, path = p.scheme, p.netloc, p.path or "/"
    query = f"?{p.query}" if p.query else ""
    base = f"{scheme}://{netloc}"
    variants = [
        ("trailing-slash", f"{base}{path.rstrip('/')}/{query}" if not path.endswith("/") else f"{base}{path}x{query}"),
        ("extra-path", f"{base}{path.rstrip('/')}/deputy-scan{query}"),
        ("extra-query", f"{uri}{'&' if p.query else '?'}deputy_scan=1"),
        ("userinfo", f"{scheme}://deputy-scan@{netloc}{path}{query}"),
        ("scheme", f"{'https' if scheme == 'http' else 'http'}://{netloc}{path}{query}"),
    ]
    if path.upper() != path:
        variants.append(("case", f"{base}{path.upper()}{query}"))
    if not is_loopback_host(p.hostname):
        host = p.hostname or ""
        port = 9443 if p.port == 8443 else 8443
        variants.append(("port", f"{scheme}://{host}:{port}{path}{query}"))
    return tuple(variants)
