"""RFC 9728 protected-resource metadata, built from plain values.

``resource`` is exactly the canonical MCP URL and ``authorization_servers`` exactly Deputy's issuer string: the MCP
SDK client compares both as strings. ``offline_access`` is never listed (MCP spec, "Refresh Tokens").
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

__all__ = ["metadata_url", "protected_resource_metadata", "www_authenticate"]


def metadata_url(resource: str) -> str:
    """RFC 9728 §3.1: the well-known segment goes between the host and the resource path."""
    parts = urlsplit(resource)
    return f"{parts.scheme}://{parts.netloc}/.well-known/oauth-protected-resource{parts.path.rstrip('/')}"


def protected_resource_metadata(resource: str, issuer: str, scopes: Sequence[str], name: str) -> dict[str, object]:
    return {
        "resource": resource,
        "authorization_servers": [issuer],
        "scopes_supported": [s for s in scopes if s != "offline_access"],
        "bearer_methods_supported": ["header"],
        "resource_name": name,
    }


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def www_authenticate(
    resource: str, scopes: Sequence[str], *, error: str | None = None, description: str | None = None
) -> str:
    """RFC 6750 §3 challenge with RFC 9728 §5.1 ``resource_metadata`` and every scope the operation needs."""
    params = [f"resource_metadata={_quote(metadata_url(resource))}"]
    if scopes:
        params.append(f"scope={_quote(' '.join(s for s in scopes if s != 'offline_access'))}")
    if error:
        params.append(f"error={_quote(error)}")
    if description:
        params.append(f"error_description={_quote(description)}")
    return "Bearer " + ", ".join(params)
