"""RFC 8414 authorization-server metadata, built from plain values."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["authorization_server_metadata"]


def authorization_server_metadata(
    issuer: str, *, scopes: Sequence[str], registration_enabled: bool
) -> dict[str, object]:
    """The issuer is echoed exactly (RFC 8414 §3.3: clients compare it as a string with what they fetched)."""
    doc: dict[str, object] = {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "revocation_endpoint": f"{issuer}/revoke",
        "jwks_uri": f"{issuer}/jwks",
        "scopes_supported": list(scopes),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": True,
    }
    if registration_enabled:
        doc["registration_endpoint"] = f"{issuer}/register"
    return doc
