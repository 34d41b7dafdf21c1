"""RFC 8414 metadata exactness (research §4.3 item 13) and the JWK Set."""

from __future__ import annotations

import pytest
from joserfc.jwk import KeySet

from support import DEPUTY, Env

pytestmark = pytest.mark.anyio


async def test_authorization_server_metadata_is_exact(env: Env) -> None:
    async with env.api() as api:
        r = await api.get("/.well-known/oauth-authorization-server")
    meta = r.json()
    assert meta["issuer"] == DEPUTY
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["authorization_response_iss_parameter_supported"] is True
    assert meta["response_types_supported"] == ["code"]
    assert set(meta["grant_types_supported"]) == {"authorization_code", "refresh_token"}
    assert "implicit" not in meta["grant_types_supported"] and "password" not in meta["grant_types_supported"]
    for key in ("authorization_endpoint", "token_endpoint", "registration_endpoint", "revocation_endpoint", "jwks_uri"):
        assert meta[key].startswith(DEPUTY + "/")
    assert "offline_access" not in meta["scopes_supported"]


async def test_metadata_is_accepted_by_the_mcp_sdk_model(env: Env) -> None:
    from mcp.shared.auth import OAuthMetadata

    async with env.api() as api:
        meta = OAuthMetadata.model_validate((await api.get("/.well-known/oauth-authorization-server")).json())
    assert str(meta.issuer).rstrip("/") == DEPUTY


async def test_jwks_publishes_only_public_keys(env: Env) -> None:
    async with env.api() as api:
        jwks = (await api.get("/jwks")).json()
    assert jwks["keys"] and all("d" not in k for k in jwks["keys"])
    assert all(k["alg"] == "ES256" and k["use"] == "sig" for k in jwks["keys"])
    KeySet.import_key_set(jwks)


async def test_every_response_has_baseline_security_headers(env: Env) -> None:
    async with env.api() as api:
        r = await api.get("/.well-known/oauth-authorization-server")
        missing = await api.get("/nope")
    for resp in (r, missing):
        assert resp.headers["x-content-type-options"] == "nosniff"
