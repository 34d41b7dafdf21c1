"""RFC 8414 authorization-server metadata, built from plain values."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from deputy.oauth.client_assertion import ALLOWED_ALGS

__all__ = ["TOKEN_EXCHANGE", "authorization_server_metadata"]

TOKEN_EXCHANGE: Final = "urn:ietf:params:oauth:grant-type:token-exchange"  # RFC 8693 §2.1


def authorization_server_metadata(
    issuer: str,
    *,
    scopes: Sequence[str],
    registration_enabled: bool,
    token_exchange: bool = False,
    client_id_metadata_documents: bool = False,
) -> dict[str, object]:
    """The issuer is echoed exactly (RFC 8414 §3.3: clients compare it as a string with what they fetched).

    The RFC 8693 grant is listed only when a downstream service is configured (``token_exchange``): without one,
    every exchange would fail. Clients need not register it in their ``grant_types`` (docs/token-exchange.md).

    With client ID metadata documents enabled (docs/cimd.md), ``client_id_metadata_document_supported`` is true and
    ``private_key_jwt`` (for document clients only) is listed with the algorithms it accepts.
    """
    auth_methods = ["none", "client_secret_basic", "client_secret_post"]
    if client_id_metadata_documents:
        auth_methods.append("private_key_jwt")
    doc: dict[str, object] = {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "revocation_endpoint": f"{issuer}/revoke",
        "jwks_uri": f"{issuer}/jwks",
        "scopes_supported": list(scopes),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", *([TOKEN_EXCHANGE] if token_exchange else [])],
        "token_endpoint_auth_methods_supported": auth_methods,
        "revocation_endpoint_auth_methods_supported": list(auth_methods),
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": True,
    }
    if registration_enabled:
        doc["registration_endpoint"] = f"{issuer}/register"
    if client_id_metadata_documents:
        doc["client_id_metadata_document_supported"] = True
        doc["token_endpoint_auth_signing_alg_values_supported"] = list(ALLOWED_ALGS)
        doc["revocation_endpoint_auth_signing_alg_values_supported"] = list(ALLOWED_ALGS)
    return doc
