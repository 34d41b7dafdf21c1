"""RFC 7591 dynamic client registration: turn an untrusted JSON body into trusted client metadata.

Anyone on the internet may register a client (MCP authorization §2.4), so the request is hostile
input: every field is type-checked, every value is checked against Deputy's policy, and only the
fields Deputy understands are kept (RFC 7591 §2 lets the server ignore the rest and §3.2.1 lets it
replace values). A client never chooses its own credentials.

Decisions, stated once:

* ``null`` means absent for every optional field; ``""`` also means absent for ``client_uri`` and
  ``logo_uri``, as the MCP SDK serialises unset URLs that way.
* A missing ``client_name`` becomes :data:`DEFAULT_CLIENT_NAME`; a present one must be a non-empty
  string after NFKC normalisation and stripping. The consent page shows it, so control, format
  (including bidi overrides), private-use, unassigned and line-separator characters are refused.
* ``token_endpoint_auth_method`` defaults to ``"none"`` (MCP clients are public clients, OAuth 2.1
  §2.1), not RFC 7591's ``client_secret_basic``.
* A missing ``application_type`` is inferred (OIDC Registration §2, MCP SEP-837): ``"native"`` when
  every redirect URI is loopback or a private-use scheme, otherwise ``"web"``. A supplied value is
  taken as informational and not cross-checked against the redirect URIs.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from deputy.errors import InvalidClientMetadataError, InvalidRedirectUriError
from deputy.oauth.redirect_uri import is_loopback_redirect_uri, validate_registered_redirect_uri

__all__ = [
    "APPLICATION_TYPES",
    "DEFAULT_CLIENT_NAME",
    "DEFAULT_GRANT_TYPES",
    "DEFAULT_RESPONSE_TYPES",
    "PUBLIC_CLIENT_METHOD",
    "REFUSED_FIELDS",
    "SUPPORTED_GRANT_TYPES",
    "ClientMetadata",
    "RegistrationPolicy",
    "registration_response",
    "validate_registration_request",
]

DEFAULT_CLIENT_NAME: Final = "Unnamed client"
PUBLIC_CLIENT_METHOD: Final = "none"
"""``token_endpoint_auth_method`` of a public client (OAuth 2.1 §2.1): no secret, PKCE only."""
SUPPORTED_GRANT_TYPES: Final = frozenset({"authorization_code", "refresh_token"})
DEFAULT_GRANT_TYPES: Final = ("authorization_code", "refresh_token")
DEFAULT_RESPONSE_TYPES: Final = ("code",)
APPLICATION_TYPES: Final = frozenset({"web", "native"})
REFUSED_FIELDS: Final = ("client_secret", "client_secret_expires_at", "jwks", "jwks_uri", "software_statement")
"""Credentials are issued by Deputy, never chosen by the client; software statements are unsupported."""

MAX_CONTACTS: Final = 10
MAX_TEXT_LENGTH: Final = 255
MAX_SCOPE_LENGTH: Final = 1000
_NFKC_EXPANSION: Final = 4
_SCOPE_TOKEN_RE: Final = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")
_UNSAFE_CATEGORIES: Final = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_JOINERS: Final = frozenset({"\u200c", "\u200d"})
_WEB_SCHEMES: Final = frozenset({"http", "https"})


@dataclass(frozen=True)
class RegistrationPolicy:
    """What Deputy's operator allows dynamically registered clients to ask for."""

    allowed_custom_schemes: frozenset[str] = frozenset()
    max_client_name_length: int = 100
    max_redirect_uris: int = 10
    allowed_auth_methods: frozenset[str] = frozenset({"none", "client_secret_basic", "client_secret_post"})
    allowed_scopes: frozenset[str] | None = None
    forbidden_origin: str | None = None  # Deputy's own origin: no redirect URI may point back into it


@dataclass(frozen=True)
class ClientMetadata:
    """Validated RFC 7591 §2 client metadata, as Deputy stores and shows it."""

    redirect_uris: tuple[str, ...]
    client_name: str
    token_endpoint_auth_method: str = PUBLIC_CLIENT_METHOD
    grant_types: tuple[str, ...] = DEFAULT_GRANT_TYPES
    response_types: tuple[str, ...] = DEFAULT_RESPONSE_TYPES
    scope: str | None = None
    client_uri: str | None = None
    logo_uri: str | None = None
    software_id: str | None = None
    software_version: str | None = None
    application_type: str = "web"
    contacts: tuple[str, ...] = ()


def validate_registration_request(body: object, policy: RegistrationPolicy) -> ClientMetadata:
    """Validate a parsed RFC 7591 §3.1 registration request body under ``policy``.

    Raises :class:`InvalidRedirectUriError` for redirect URI problems and
    :class:`InvalidClientMetadataError` for everything else (RFC 7591 §3.2.2).
    """
    fields = _require_object(body)
    _refuse_client_chosen_credentials(fields)
    redirect_uris = _redirect_uris(fields.get("redirect_uris"), policy)
    return ClientMetadata(
        redirect_uris=redirect_uris,
        client_name=_client_name(fields.get("client_name"), policy.max_client_name_length),
        token_endpoint_auth_method=_auth_method(fields.get("token_endpoint_auth_method"), policy),
        grant_types=_grant_types(fields.get("grant_types")),
        response_types=_response_types(fields.get("response_types")),
        scope=_scope(fields.get("scope"), policy.allowed_scopes),
        client_uri=_https_uri(fields.get("client_uri"), "client_uri"),
        logo_uri=_https_uri(fields.get("logo_uri"), "logo_uri"),
        software_id=_optional_text(fields.get("software_id"), "software_id"),
        software_version=_optional_text(fields.get("software_version"), "software_version"),
        application_type=_application_type(fields.get("application_type"), redirect_uris),
        contacts=_contacts(fields.get("contacts")),
    )


def registration_response(
    client_id: str, client_secret: str | None, issued_at: int, expires_at: int | None, meta: ClientMetadata
) -> dict[str, object]:
    """The RFC 7591 §3.2.1 client information response.

    ``client_secret_expires_at`` is sent only with a secret, ``0`` meaning it never expires. A secret
    for a public client (or none for a confidential one) is a bug in the caller, hence ``ValueError``.
    """
    if (client_secret is None) != (meta.token_endpoint_auth_method == PUBLIC_CLIENT_METHOD):
        raise ValueError("a client secret must be issued exactly when the auth method is not 'none'")
    response: dict[str, object] = {"client_id": client_id, "client_id_issued_at": issued_at}
    if client_secret is not None:
        response["client_secret"] = client_secret
        response["client_secret_expires_at"] = 0 if expires_at is None else expires_at
    response.update(_metadata_members(meta))
    return response


def _metadata_members(meta: ClientMetadata) -> dict[str, object]:
    """Metadata as JSON members: tuples become arrays, absent values are omitted (RFC 7591 §3.2.1)."""
    members: dict[str, object] = {
        "redirect_uris": list(meta.redirect_uris),
        "client_name": meta.client_name,
        "token_endpoint_auth_method": meta.token_endpoint_auth_method,
        "grant_types": list(meta.grant_types),
        "response_types": list(meta.response_types),
        "scope": meta.scope,
        "client_uri": meta.client_uri,
        "logo_uri": meta.logo_uri,
        "software_id": meta.software_id,
        "software_version": meta.software_version,
        "application_type": meta.application_type,
        "contacts": list(meta.contacts) or None,
    }
    return {name: value for name, value in members.items() if value is not None}


def _invalid(description: str) -> InvalidClientMetadataError:
    """The error for every non-redirect refusal; descriptions name the field, never echo its value."""
    return InvalidClientMetadataError(description)


def _require_object(body: object) -> Mapping[str, object]:
    """RFC 7591 §3.1: the request body is a JSON object; anything else is refused."""
    if not isinstance(body, dict):
        raise _invalid("The registration request must be a JSON object.")
    return {name: value for name, value in body.items() if isinstance(name, str)}


def _refuse_client_chosen_credentials(fields: Mapping[str, object]) -> None:
    """Deputy issues secrets and does not accept client keys or software statements (RFC 7591 §2.3)."""
    refused = [name for name in REFUSED_FIELDS if fields.get(name) is not None]
    if refused:
        raise _invalid(f"The registration request must not contain {refused[0]}.")


def _redirect_uris(value: object, policy: RegistrationPolicy) -> tuple[str, ...]:
    """At least one, at most ``max_redirect_uris``, distinct, each passing the registration policy."""
    if not isinstance(value, list) or not value:
        raise InvalidRedirectUriError("redirect_uris must be a non-empty array of strings.")
    if len(value) > policy.max_redirect_uris:
        raise InvalidRedirectUriError(f"At most {policy.max_redirect_uris} redirect URIs may be registered.")
    uris = tuple(_redirect_uri(item, policy) for item in value)
    if len(set(uris)) != len(uris):
        raise InvalidRedirectUriError("redirect_uris must not contain duplicates.")
    return uris


def _redirect_uri(item: object, policy: RegistrationPolicy) -> str:
    """One redirect URI, checked by :func:`validate_registered_redirect_uri`."""
    if not isinstance(item, str):
        raise InvalidRedirectUriError("redirect_uris must be a non-empty array of strings.")
    return validate_registered_redirect_uri(
        item, allowed_custom_schemes=policy.allowed_custom_schemes, forbidden_origin=policy.forbidden_origin
    )


def _string_list(value: object, name: str) -> tuple[str, ...] | None:
    """A JSON array of strings, ``None`` when absent; ``bool`` and numbers are not strings."""
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _invalid(f"{name} must be an array of strings.")
    return tuple(value)


def _optional_string(value: object, name: str) -> str | None:
    """A JSON string, ``None`` when absent."""
    if value is None or isinstance(value, str):
        return value
    raise _invalid(f"{name} must be a string.")


def _client_name(value: object, max_length: int) -> str:
    """The name the consent page shows: NFKC-normalised, stripped, short and free of spoofing characters."""
    raw = _optional_string(value, "client_name")
    if raw is None:
        return DEFAULT_CLIENT_NAME
    if len(raw) > max_length * _NFKC_EXPANSION:
        raise _invalid(f"client_name must not be longer than {max_length} characters.")
    normalized = unicodedata.normalize("NFKC", raw)
    _refuse_unsafe_characters(normalized, "client_name")
    name = normalized.strip()
    if not name:
        raise _invalid("client_name must not be empty.")
    if len(name) > max_length:
        raise _invalid(f"client_name must not be longer than {max_length} characters.")
    return name


def _refuse_unsafe_characters(text: str, name: str) -> None:
    """Refuse characters that hide or reorder text (bidi overrides U+202A–U+202E and U+2066–U+2069 are Cf).

    Zero-width (non-)joiners are allowed, as emoji sequences and several scripts need them.
    """
    if any(char not in _JOINERS and unicodedata.category(char) in _UNSAFE_CATEGORIES for char in text):
        raise _invalid(f"{name} contains control or formatting characters.")


def _optional_text(value: object, name: str) -> str | None:
    """A short, non-empty, displayable string such as ``software_id``, ``None`` when absent."""
    text = _optional_string(value, name)
    if text is None:
        return None
    return _text(text, name)


def _text(text: str, name: str) -> str:
    """Non-empty, at most :data:`MAX_TEXT_LENGTH`, no unsafe characters; returned unchanged."""
    if not text or len(text) > MAX_TEXT_LENGTH:
        raise _invalid(f"{name} must be 1 to {MAX_TEXT_LENGTH} characters long.")
    _refuse_unsafe_characters(text, name)
    return text


def _auth_method(value: object, policy: RegistrationPolicy) -> str:
    """RFC 7591 §2 ``token_endpoint_auth_method``, restricted to the policy; ``"none"`` when absent."""
    given = _optional_string(value, "token_endpoint_auth_method")
    method = PUBLIC_CLIENT_METHOD if given is None else given
    if method not in policy.allowed_auth_methods:
        raise _invalid("token_endpoint_auth_method is not supported.")
    return method


def _grant_types(value: object) -> tuple[str, ...]:
    """Only the authorization code flow and its refresh tokens (OAuth 2.1 §4), de-duplicated."""
    given = _string_list(value, "grant_types")
    if given is None:
        return DEFAULT_GRANT_TYPES
    grants = tuple(dict.fromkeys(given))
    if not SUPPORTED_GRANT_TYPES.issuperset(grants):
        raise _invalid("grant_types contains an unsupported grant type.")
    if "authorization_code" not in grants:
        raise _invalid("grant_types must include authorization_code.")
    return grants


def _response_types(value: object) -> tuple[str, ...]:
    """OAuth 2.1 §3.1.1 knows only ``code``; RFC 7591 §2.1 ties it to the authorization_code grant."""
    given = _string_list(value, "response_types")
    if given is None:
        return DEFAULT_RESPONSE_TYPES
    if tuple(dict.fromkeys(given)) != DEFAULT_RESPONSE_TYPES:
        raise _invalid('response_types must be exactly ["code"].')
    return DEFAULT_RESPONSE_TYPES


def _scope(value: object, allowed: frozenset[str] | None) -> str | None:
    """RFC 6749 §3.3 scope syntax (single-space separated tokens), limited to ``allowed`` if given."""
    scope = _optional_string(value, "scope")
    if scope is None:
        return None
    tokens = scope.split(" ")
    if len(scope) > MAX_SCOPE_LENGTH or not all(_SCOPE_TOKEN_RE.fullmatch(token) for token in tokens):
        raise _invalid("scope is not a valid space-separated list of scope tokens.")
    if allowed is not None and not allowed.issuperset(tokens):
        raise _invalid("scope contains a scope that is not allowed.")
    return scope


def _https_uri(value: object, name: str) -> str | None:
    """``client_uri``/``logo_uri``: informational, but if present an https URI under the redirect URI rules.

    Deputy never fetches or renders them remotely; requiring https keeps any link on the consent page safe.
    """
    uri = _optional_string(value, name)
    if not uri:
        return None
    try:
        validate_registered_redirect_uri(uri)
    except InvalidRedirectUriError:
        raise _invalid(f"{name} must be an https URI.") from None
    if not uri.lower().startswith("https:"):
        raise _invalid(f"{name} must be an https URI.")
    return uri


def _application_type(value: object, redirect_uris: tuple[str, ...]) -> str:
    """OIDC Registration §2 ``application_type`` (MCP SEP-837), inferred from the redirect URIs when absent."""
    given = _optional_string(value, "application_type")
    if given is None:
        return "native" if all(_is_device_local(uri) for uri in redirect_uris) else "web"
    if given not in APPLICATION_TYPES:
        raise _invalid('application_type must be "web" or "native".')
    return given


def _is_device_local(uri: str) -> bool:
    """Loopback or private-use scheme: only an app on the user's device can receive the code."""
    return is_loopback_redirect_uri(uri) or uri.split(":", 1)[0].lower() not in _WEB_SCHEMES


def _contacts(value: object) -> tuple[str, ...]:
    """RFC 7591 §2 ``contacts``: a short list of short strings, empty when absent."""
    given = _string_list(value, "contacts") or ()
    if len(given) > MAX_CONTACTS:
        raise _invalid(f"contacts must not contain more than {MAX_CONTACTS} entries.")
    return tuple(_text(contact, "contacts") for contact in given)
