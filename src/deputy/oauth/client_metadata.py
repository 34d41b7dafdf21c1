"""Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document; MCP 2026-07-28 "Client
Registration"): an https ``client_id`` names a JSON document, hosted by the client, that describes it.

The document is validated exactly like a dynamic registration (``deputy.oauth.registration``) plus the rules that
come from having no registration step at all:

* the ``client_id`` URL is https with a path other than ``/``, no userinfo, fragment, query, or dot segment
  (however percent-encoded), at most :data:`MAX_CLIENT_ID_LENGTH` characters (draft §3);
* the document's ``client_id`` equals that URL, as a string (draft §4.1);
* ``client_name`` and ``redirect_uris`` are required (MCP client registration);
* nothing in it may be a shared secret or a private key: ``client_secret``, ``client_secret_expires_at`` and
  private JWK members are refused, and the only authentication methods are ``none`` and ``private_key_jwt``
  (draft §4.1: "there is no way to establish a shared secret");
* ``private_key_jwt`` needs exactly one of ``jwks_uri`` (https, fetched under the same rules) or an inline public
  ``jwks``.

The identity such a client has is its host name: Deputy shows it on the consent page as verified, and the client
name as self-asserted.
"""

from __future__ import annotations

import base64
import json
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from deputy.errors import InvalidClientError, InvalidClientMetadataError
from deputy.net.urls import HttpsUrl, UrlRefusedError, parse_https_url
from deputy.oauth.models import Client, ClientKind
from deputy.oauth.registration import ClientMetadata, RegistrationPolicy, validate_registration_request

__all__ = [
    "DOCUMENT_AUTH_METHODS",
    "MAX_CLIENT_ID_LENGTH",
    "PRIVATE_KEY_JWT",
    "ClientDocument",
    "document_client",
    "is_client_id_url",
    "validate_client_document",
    "validate_client_id_url",
    "validate_jwks",
    "validate_jwks_uri",
]

PRIVATE_KEY_JWT: Final = "private_key_jwt"
DOCUMENT_AUTH_METHODS: Final = frozenset({"none", PRIVATE_KEY_JWT})
MAX_CLIENT_ID_LENGTH: Final = 200
"""The width of every ``client_id`` column; longer identifiers could not be stored or audited."""
MAX_JWKS_KEYS: Final = 10
MIN_RSA_BITS: Final = 2048
SECRET_FIELDS: Final = ("client_secret", "client_secret_expires_at")
PRIVATE_JWK_MEMBERS: Final = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
"""RFC 7518 §6.2.2, §6.3.2 and §6.4: private EC/RSA/OKP members, and ``k``, a symmetric key."""
SIGNING_KEY_TYPES: Final = frozenset({"EC", "RSA", "OKP"})
SIGNING_OKP_CURVES: Final = frozenset({"Ed25519", "Ed448"})
_DOT_SEGMENTS: Final = frozenset({".", ".."})
_LOCAL_FIELDS: Final = ("client_id", "jwks", "jwks_uri")


@dataclass(frozen=True)
class ClientDocument:
    """A validated client metadata document."""

    client_id: str
    domain: str
    """The host of ``client_id``: the only part of the client's identity Deputy can vouch for."""
    metadata: ClientMetadata
    jwks: KeySet | None = None
    jwks_uri: str | None = None


def is_client_id_url(client_id: str) -> bool:
    """Whether ``client_id`` claims to be a document URL. Registered and configured ids never contain ``:``."""
    return client_id.startswith("https://")


def validate_client_id_url(client_id: str) -> HttpsUrl:
    """The parsed URL if ``client_id`` may name a metadata document.

    Raises:
        InvalidClientError: the URL breaks a rule of the module docstring (draft §3).
    """
    try:
        url = parse_https_url(client_id, max_length=MAX_CLIENT_ID_LENGTH)
    except UrlRefusedError as exc:
        raise InvalidClientError("client_id is not a usable client metadata document URL", cause=str(exc)) from None
    path, has_query, _ = url.target.partition("?")
    if has_query:
        raise InvalidClientError("client_id is not a usable client metadata document URL", cause="query")
    if path == "/" or _has_dot_segment(path):
        raise InvalidClientError("client_id is not a usable client metadata document URL", cause="path")
    return url


def validate_jwks_uri(value: object) -> str:
    """A ``jwks_uri``: https, fetchable under the same URL rules as the document, no dot segments.

    Raises:
        InvalidClientMetadataError: anything else.
    """
    if not isinstance(value, str):
        raise InvalidClientMetadataError("jwks_uri must be a string.")
    try:
        url = parse_https_url(value)
    except UrlRefusedError:
        raise InvalidClientMetadataError("jwks_uri must be a plain https URL.") from None
    if _has_dot_segment(url.target.partition("?")[0]):
        raise InvalidClientMetadataError("jwks_uri must not contain dot segments.")
    return value


def validate_client_document(client_id: str, body: bytes, policy: RegistrationPolicy) -> ClientDocument:
    """Validate the document fetched from ``client_id``.

    Raises:
        InvalidClientError: ``client_id`` itself is not a usable URL.
        InvalidClientMetadataError / InvalidRedirectUriError: the document breaks a rule (RFC 7591 §3.2.2 codes).
    """
    url = validate_client_id_url(client_id)
    fields = _parse_object(body)
    if fields.get("client_id") != client_id:
        raise InvalidClientMetadataError("The document's client_id must equal its URL.")
    present = [name for name in SECRET_FIELDS if name in fields]
    if present:
        raise InvalidClientMetadataError(f"A client metadata document must not contain {present[0]}.")
    method = fields.get("token_endpoint_auth_method")
    method = "none" if method is None else method
    if method not in DOCUMENT_AUTH_METHODS:
        raise InvalidClientMetadataError("token_endpoint_auth_method must be none or private_key_jwt.")
    if not isinstance(fields.get("client_name"), str):
        raise InvalidClientMetadataError("client_name is required.")
    jwks = validate_jwks(fields["jwks"]) if fields.get("jwks") is not None else None
    jwks_uri = validate_jwks_uri(fields["jwks_uri"]) if fields.get("jwks_uri") is not None else None
    _check_key_source(method, jwks is not None, jwks_uri is not None)
    rest = {name: value for name, value in fields.items() if name not in _LOCAL_FIELDS}
    metadata = validate_registration_request(rest, policy)
    return ClientDocument(client_id, url.host, metadata, jwks, jwks_uri)


def validate_jwks(value: object) -> KeySet:
    """A public JWK Set of signing keys (RFC 7517 §5): EC, RSA of at least 2048 bits, or Ed25519/Ed448.

    Raises:
        InvalidClientMetadataError: not a JWK Set, too many keys, a private or symmetric key, or an unusable key.
    """
    if not isinstance(value, dict) or not isinstance(value.get("keys"), list):
        raise InvalidClientMetadataError("jwks must be a JWK Set.")
    keys: list[object] = value["keys"]
    if not 0 < len(keys) <= MAX_JWKS_KEYS:
        raise InvalidClientMetadataError(f"jwks must contain 1 to {MAX_JWKS_KEYS} keys.")
    for key in keys:
        _check_public_signing_jwk(key)
    try:
        key_set = KeySet.import_key_set({"keys": keys})  # type: ignore[typeddict-item]
    except (JoseError, ValueError, TypeError, KeyError):
        raise InvalidClientMetadataError("jwks contains a key that cannot be used.") from None
    return key_set


def document_client(document: ClientDocument, *, now: int) -> Client:
    """The client record a document describes. It lives only in memory: nothing is registered or stored."""
    meta = document.metadata
    return Client(
        client_id=document.client_id,
        client_name=meta.client_name,
        redirect_uris=meta.redirect_uris,
        token_endpoint_auth_method=meta.token_endpoint_auth_method,
        kind=ClientKind.DOCUMENT,
        created_at=now,
        grant_types=meta.grant_types,
        scope=tuple(meta.scope.split()) if meta.scope else None,
        application_type=meta.application_type,
        client_uri=meta.client_uri,
    )


def _parse_object(body: bytes) -> Mapping[str, object]:
    """A JSON object with no repeated member names (two ``client_id`` members could be read two ways)."""
    try:
        parsed = json.loads(body, object_pairs_hook=_unique_members)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise InvalidClientMetadataError("The client metadata document is not valid JSON.") from None
    if not isinstance(parsed, dict):
        raise InvalidClientMetadataError("The client metadata document must be a JSON object.")
    return parsed


def _unique_members(pairs: list[tuple[str, object]]) -> dict[str, object]:
    members = dict(pairs)
    if len(members) != len(pairs):
        raise ValueError("repeated member name")
    return members


def _check_key_source(method: str, has_jwks: bool, has_jwks_uri: bool) -> None:
    """RFC 7591 §2: ``jwks`` and ``jwks_uri`` MUST NOT both be present; private_key_jwt needs one of them."""
    if has_jwks and has_jwks_uri:
        raise InvalidClientMetadataError("jwks and jwks_uri must not both be present.")
    if method == PRIVATE_KEY_JWT and not (has_jwks or has_jwks_uri):
        raise InvalidClientMetadataError("private_key_jwt requires jwks_uri or jwks.")


def _check_public_signing_jwk(key: object) -> None:
    if not isinstance(key, dict):
        raise InvalidClientMetadataError("jwks must contain JSON objects.")
    if PRIVATE_JWK_MEMBERS.intersection(key):
        raise InvalidClientMetadataError("jwks must not contain private or symmetric keys.")
    if key.get("kty") not in SIGNING_KEY_TYPES:
        raise InvalidClientMetadataError("jwks keys must be EC, RSA or OKP signing keys.")
    if key.get("kty") == "OKP" and key.get("crv") not in SIGNING_OKP_CURVES:
        raise InvalidClientMetadataError("jwks OKP keys must be Ed25519 or Ed448.")
    if key.get("use", "sig") != "sig":
        raise InvalidClientMetadataError("jwks keys must be signing keys.")
    if key.get("kty") == "RSA" and _modulus_bits(key.get("n")) < MIN_RSA_BITS:
        raise InvalidClientMetadataError(f"RSA keys must have at least {MIN_RSA_BITS} bits.")


def _modulus_bits(n: object) -> int:
    """Bits of an RSA modulus given as base64url (RFC 7518 §6.3.1.1), checked before any key is built from it."""
    if not isinstance(n, str) or not n.isascii():
        return 0
    try:
        raw = base64.urlsafe_b64decode(n + "=" * (-len(n) % 4))
    except ValueError:
        return 0
    return int.from_bytes(raw, "big").bit_length()


def _has_dot_segment(path: str) -> bool:
    """``.`` or ``..`` as a segment, also when percent-encoded (``%2e``) or double-encoded (``%252e``)."""
    decoded, previous = urllib.parse.unquote(path), path
    while decoded != previous:
        previous, decoded = decoded, urllib.parse.unquote(decoded)
    return any(segment in _DOT_SEGMENTS for segment in re.split(r"[/\\]", decoded))
