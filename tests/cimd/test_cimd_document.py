"""Validation of client metadata documents and their URLs (pure: no server)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from cimd_support import REDIRECT, document
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc.jwk import ECKey, OctKey, OKPKey, RSAKey

from deputy.errors import InvalidClientError, InvalidClientMetadataError, InvalidRedirectUriError, OAuthError
from deputy.oauth.client_metadata import (
    DOCUMENT_AUTH_METHODS,
    document_client,
    validate_client_document,
    validate_client_id_url,
)
from deputy.oauth.models import ClientKind
from deputy.oauth.registration import RegistrationPolicy

CLIENT_ID = "https://app.example.com/oauth/client.json"
POLICY = RegistrationPolicy(allowed_auth_methods=DOCUMENT_AUTH_METHODS, allowed_scopes=frozenset({"crm.read"}))


def validate(doc: Any, client_id: str = CLIENT_ID) -> Any:
    return validate_client_document(client_id, json.dumps(doc).encode(), POLICY)


def public_jwk(**extra: Any) -> dict[str, Any]:
    return {**ECKey.generate_key("P-256", auto_kid=True).as_dict(private=False), **extra}


def weak_rsa_jwk() -> dict[str, Any]:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 (the point of the test)
    numbers = weak.public_key().public_numbers()

    def b64(value: int) -> str:
        return base64.urlsafe_b64encode(value.to_bytes((value.bit_length() + 7) // 8, "big")).rstrip(b"=").decode()

    return {"kty": "RSA", "n": b64(numbers.n), "e": b64(numbers.e)}


def test_a_valid_document_becomes_an_unstored_document_client() -> None:
    doc = validate(document(CLIENT_ID, scope="crm.read", client_uri="https://app.example.com/"))
    assert doc.domain == "app.example.com"
    client = document_client(doc, now=1000)
    assert client.kind is ClientKind.DOCUMENT
    assert (client.client_id, client.client_name, client.redirect_uris) == (CLIENT_ID, "Doc Assistant", (REDIRECT,))
    assert client.is_public and client.scope == ("crm.read",)


@pytest.mark.parametrize(
    "client_id",
    [
        "https://app.example.com/",  # no path beyond the root
        "https://app.example.com/c.json?v=1",  # query
        "https://app.example.com/a/../c.json",
        "https://app.example.com/a/./c.json",
        "https://app.example.com/a/%2e%2e/c.json",
        "https://app.example.com/a/%252E%252E/c.json",
        "https://user@app.example.com/c.json",
        "https://app.example.com/c.json#x",
        "http://app.example.com/c.json",
        "https://app.example.com/" + "c" * 200,
        "https://0x7f.1/c.json",
    ],
)
def test_unusable_client_id_urls_are_refused(client_id: str) -> None:
    with pytest.raises(InvalidClientError):
        validate_client_id_url(client_id)


def test_the_document_client_id_must_equal_the_url_exactly() -> None:
    for other in (CLIENT_ID + "/", CLIENT_ID.replace("app.", "App."), "https://evil.example/oauth/client.json", None):
        with pytest.raises(InvalidClientMetadataError):
            validate({**document(CLIENT_ID), "client_id": other})


@pytest.mark.parametrize(
    "extra",
    [
        {"client_secret": "s3cret"},
        {"client_secret": None},
        {"client_secret_expires_at": 0},
        {"token_endpoint_auth_method": "client_secret_basic"},
        {"token_endpoint_auth_method": "client_secret_post"},
        {"token_endpoint_auth_method": "client_secret_jwt"},
        {"token_endpoint_auth_method": "tls_client_auth"},
    ],
)
def test_shared_secrets_are_refused(extra: dict[str, Any]) -> None:
    with pytest.raises(InvalidClientMetadataError):
        validate(document(CLIENT_ID, **extra))


@pytest.mark.parametrize("member", ["d", "p", "q", "dp", "dq", "qi", "k"])
def test_jwks_with_private_members_is_refused(member: str) -> None:
    jwks = {"keys": [public_jwk(**{member: "AAAA"})]}
    with pytest.raises(InvalidClientMetadataError):
        validate(document(CLIENT_ID, token_endpoint_auth_method="private_key_jwt", jwks=jwks))


@pytest.mark.parametrize(
    "key",
    [
        ECKey.generate_key("P-256").as_dict(private=True),
        RSAKey.generate_key(2048).as_dict(private=True),
        OKPKey.generate_key("Ed25519").as_dict(private=True),
        OctKey.generate_key(256).as_dict(private=True),
        weak_rsa_jwk(),
        OKPKey.generate_key("X25519").as_dict(private=False),  # not a signing key
        {**ECKey.generate_key("P-256").as_dict(private=False), "use": "enc"},
    ],
)
def test_only_public_signing_keys_are_accepted(key: dict[str, Any]) -> None:
    doc = document(CLIENT_ID, token_endpoint_auth_method="private_key_jwt", jwks={"keys": [key]})
    with pytest.raises(InvalidClientMetadataError):
        validate(doc)


def test_private_key_jwt_needs_exactly_one_key_source() -> None:
    with pytest.raises(InvalidClientMetadataError):
        validate(document(CLIENT_ID, token_endpoint_auth_method="private_key_jwt"))
    both = {"jwks": {"keys": [public_jwk()]}, "jwks_uri": "https://app.example.com/jwks.json"}
    with pytest.raises(InvalidClientMetadataError):
        validate(document(CLIENT_ID, token_endpoint_auth_method="private_key_jwt", **both))
    inline = validate(document(CLIENT_ID, token_endpoint_auth_method="private_key_jwt", jwks={"keys": [public_jwk()]}))
    assert inline.jwks is not None and len(inline.jwks.keys) == 1
    remote = validate(
        document(CLIENT_ID, token_endpoint_auth_method="private_key_jwt", jwks_uri="https://app.example.com/jwks")
    )
    assert remote.jwks_uri == "https://app.example.com/jwks"


@pytest.mark.parametrize(
    "jwks_uri", ["http://app.example.com/jwks", "https://0x0a.0.0.1/jwks", "https://app.example.com/a/../jwks", 42]
)
def test_jwks_uri_follows_the_fetch_rules(jwks_uri: object) -> None:
    with pytest.raises(InvalidClientMetadataError):
        validate(document(CLIENT_ID, token_endpoint_auth_method="private_key_jwt", jwks_uri=jwks_uri))


@pytest.mark.parametrize(
    ("doc", "error"),
    [
        ({"client_id": CLIENT_ID, "redirect_uris": [REDIRECT]}, InvalidClientMetadataError),  # no client_name
        (document(CLIENT_ID, redirect_uris=[]), InvalidRedirectUriError),
        (document(CLIENT_ID, redirect_uris=["http://app.example.com/cb"]), InvalidRedirectUriError),
        (document(CLIENT_ID, redirect_uris=["https://app.example.com/cb#x"]), InvalidRedirectUriError),
        (document(CLIENT_ID, redirect_uris=["javascript:alert(1)"]), InvalidRedirectUriError),
        (document(CLIENT_ID, client_name="Evil\u202eppA"), InvalidClientMetadataError),
        (document(CLIENT_ID, grant_types=["client_credentials"]), InvalidClientMetadataError),
        (document(CLIENT_ID, scope="admin"), InvalidClientMetadataError),
        (document(CLIENT_ID, software_statement="eyJ..."), InvalidClientMetadataError),
        ([document(CLIENT_ID)], InvalidClientMetadataError),
    ],
)
def test_documents_are_validated_like_registrations(doc: Any, error: type[OAuthError]) -> None:
    with pytest.raises(error):
        validate(doc)


def test_repeated_members_and_non_json_are_refused() -> None:
    repeated = f'{{"client_id": "https://evil.example/c", "client_id": "{CLIENT_ID}", "client_name": "x", '
    repeated += f'"redirect_uris": ["{REDIRECT}"]}}'
    for body in (repeated.encode(), b"not json", b"\xff\xfe", b"[" * 100_000):
        with pytest.raises(InvalidClientMetadataError):
            validate_client_document(CLIENT_ID, body, POLICY)
