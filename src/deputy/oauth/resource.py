"""Resource indicators (RFC 8707): Deputy issues tokens for exactly one resource, its MCP endpoint."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from deputy.errors import InvalidTargetError

__all__ = ["canonical_resource", "validate_resource"]

_DEFAULT_PORTS = {"http": 80, "https": 443}


def canonical_resource(uri: str) -> str:
    """Lower-case scheme and host, drop a default port; the MCP spec asks servers to accept such variants."""
    parts = urlsplit(uri)
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        return uri
    netloc = host if port in (None, _DEFAULT_PORTS.get(parts.scheme.lower())) else f"{host}:{port}"
    return urlunsplit((parts.scheme.lower(), netloc, parts.path, parts.query, parts.fragment))


def validate_resource(requested: str | None, own: str) -> str:
    """The request's ``resource`` must name Deputy's own MCP resource; absent means that resource.

    Raises:
        InvalidTargetError: any other resource, a fragment, or userinfo (RFC 8707 §2).
    """
    if requested is None:
        return own
    try:
        parts = urlsplit(requested)
        canonical = canonical_resource(requested)
    except ValueError:  # urlsplit refuses some malformed hosts (an unclosed "[", NFKC tricks)
        raise InvalidTargetError("resource is not a valid URI") from None
    if parts.fragment or "@" in parts.netloc or "#" in requested:
        raise InvalidTargetError("resource must be an absolute URI without fragment")
    if canonical != canonical_resource(own):
        raise InvalidTargetError("resource is not served by this authorization server")
    return own
