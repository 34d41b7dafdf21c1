"""RFC 8693 token exchange, the pure part: the request, the target service, the scope and the minted token.

A client holding one of Deputy's access tokens (audience: Deputy's MCP resource) trades it for a token whose
audience is one configured downstream service. The new token is narrower in every way: one audience, a scope no
wider than both the subject token's and the service's policy, a lifetime of seconds that never outlasts the subject
token, and an ``act`` claim (§4.1) naming who asked. Deputy never passes a client's token through to anyone.

Choices where RFC 8693 leaves room (docs/token-exchange.md explains them):

* ``subject_token_type`` may be ``…:access_token`` or ``…:jwt``: Deputy's access tokens are both; what decides is
  the token itself, verified exactly as the MCP endpoint verifies it.
* ``audience`` and ``resource`` may each repeat (§2.1), but every value must name the same service; both are looked
  up in one table of service identifiers (the audience and the resource URIs), so neither is a way around the other.
* An invalid, expired, revoked or foreign subject token is ``invalid_request``, as §2.2.2 requires.
* ``actor_token`` is not supported: the actor is the authenticated client, recorded in ``act``.

Nothing here touches storage or HTTP; ``deputy.broker.downstream`` runs these steps in a transaction.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import urlsplit

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jws import extract_compact

from deputy.config import DownstreamSettings
from deputy.errors import InvalidRequestError, InvalidScopeError, InvalidTargetError, UnauthorizedClientError
from deputy.keys import SIGNING_ALG, SigningKey
from deputy.oauth.metadata import TOKEN_EXCHANGE
from deputy.oauth.resource import canonical_resource
from deputy.oauth.scopes import format_scope, parse_scope
from deputy.oauth.tokens import AT_TYP

__all__ = [
    "ACCESS_TOKEN_TYPE",
    "GRANT_TYPE",
    "JWT_TOKEN_TYPE",
    "DownstreamService",
    "ExchangeRequest",
    "ExchangedToken",
    "InvalidSubjectTokenError",
    "SubjectToken",
    "actor_claim",
    "check_client_admitted",
    "downstream_services",
    "exchange_expiry",
    "mint_exchanged_token",
    "parse_exchange_request",
    "split_targets",
    "subject_act",
    "validate_exchange_scope",
    "validate_target",
]

GRANT_TYPE: Final = TOKEN_EXCHANGE  # RFC 8693 §2.1
ACCESS_TOKEN_TYPE: Final = "urn:ietf:params:oauth:token-type:access_token"  # RFC 8693 §3
JWT_TOKEN_TYPE: Final = "urn:ietf:params:oauth:token-type:jwt"  # RFC 8693 §3
TOKEN_TYPES: Final = frozenset({ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE})
TARGET_PARAMETERS: Final = frozenset({"audience", "resource"})
MAX_TARGETS: Final = 10
MAX_TARGET_LENGTH: Final = 2048
MAX_ACT_DEPTH: Final = 4


class InvalidSubjectTokenError(InvalidRequestError):
    """RFC 8693 §2.2.2: a subject token that is invalid "for any reason" or "unacceptable based on policy" MUST be
    answered with ``invalid_request`` (expired, revoked, not Deputy's, for another audience, another client's)."""


@dataclass(frozen=True)
class ExchangeRequest:
    """A syntactically valid token-exchange request (RFC 8693 §2.1); nothing in it is trusted yet."""

    subject_token: str = field(repr=False)
    subject_token_type: str
    audiences: tuple[str, ...]
    resources: tuple[str, ...]
    scopes: tuple[str, ...]
    requested_token_type: str


@dataclass(frozen=True)
class SubjectToken:
    """The verified subject: whose token it is, for which client, what it allows, and how it can be revoked."""

    user_id: str
    client_id: str
    scopes: tuple[str, ...]
    jti: str
    grant_id: str
    expires_at: int
    act: Mapping[str, object] | None = None


@dataclass(frozen=True)
class DownstreamService:
    """A configured service as the exchange sees it: its identifiers in canonical form and its policy."""

    name: str
    audience: str
    identifiers: frozenset[str]
    scopes: tuple[str, ...]
    lifetime: int
    clients: frozenset[str] | None

    def admits(self, client_id: str) -> bool:
        return self.clients is None or client_id in self.clients


@dataclass(frozen=True)
class ExchangedToken:
    """The issued token and what the client is told about it (RFC 8693 §2.2.1). No refresh token, ever."""

    access_token: str = field(repr=False)
    issued_token_type: str
    expires_in: int
    scopes: tuple[str, ...]
    audience: str
    service: str
    jti: str

    def to_json(self) -> dict[str, object]:
        return {
            "access_token": self.access_token,
            "issued_token_type": self.issued_token_type,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "scope": format_scope(self.scopes),
        }


def downstream_services(config: Mapping[str, DownstreamSettings]) -> dict[str, DownstreamService]:
    return {
        name: DownstreamService(
            name=name,
            audience=svc.audience,
            identifiers=frozenset(canonical_resource(i) for i in (svc.audience, *svc.resources)),
            scopes=svc.scopes,
            lifetime=svc.token_lifetime_seconds,
            clients=None if svc.clients is None else frozenset(svc.clients),
        )
        for name, svc in config.items()
    }


def split_targets(
    pairs: Iterable[tuple[str, str]],
) -> tuple[list[tuple[str, str]], tuple[str, ...], tuple[str, ...]]:
    """Separate ``audience`` and ``resource``, which RFC 8693 §2.1 lets repeat, from the single-valued rest.

    Raises:
        InvalidRequestError: more than ``MAX_TARGETS`` target values, or an absurdly long one.
    """
    rest: list[tuple[str, str]] = []
    targets: dict[str, list[str]] = {"audience": [], "resource": []}
    for key, value in pairs:
        if key not in TARGET_PARAMETERS:
            rest.append((key, value))
        elif value != "":  # RFC 6749 §3.1: a parameter sent without a value is treated as omitted
            if len(value) > MAX_TARGET_LENGTH:
                raise InvalidRequestError(f"{key} is too long")
            targets[key].append(value)
    if len(targets["audience"]) + len(targets["resource"]) > MAX_TARGETS:
        raise InvalidRequestError("too many audience or resource values")
    return rest, tuple(dict.fromkeys(targets["audience"])), tuple(dict.fromkeys(targets["resource"]))


def parse_exchange_request(
    form: Mapping[str, str], audiences: Sequence[str], resources: Sequence[str]
) -> ExchangeRequest:
    """RFC 8693 §2.1 parameters, checked for shape only; the token and the targets are checked against state later.

    Raises:
        InvalidRequestError: ``actor_token`` given, ``subject_token`` or its type missing, or an unsupported type.
        InvalidScopeError: a malformed ``scope``.
    """
    if "actor_token" in form or "actor_token_type" in form:
        raise InvalidRequestError(
            "actor_token is not supported: the authenticated client is the actor and is recorded in the act claim"
        )
    subject_token = form.get("subject_token")
    if not subject_token:
        raise InvalidRequestError("subject_token is required")
    subject_type = form.get("subject_token_type")
    if subject_type is None:
        raise InvalidRequestError("subject_token_type is required")
    if subject_type not in TOKEN_TYPES:
        raise InvalidRequestError("subject_token_type must be an access_token or jwt token type")
    requested = form.get("requested_token_type", ACCESS_TOKEN_TYPE)
    if requested not in TOKEN_TYPES:
        raise InvalidRequestError("requested_token_type must be an access_token or jwt token type")
    return ExchangeRequest(
        subject_token=subject_token,
        subject_token_type=subject_type,
        audiences=tuple(audiences),
        resources=tuple(resources),
        scopes=parse_scope(form.get("scope")),
        requested_token_type=requested,
    )


def validate_target(
    audiences: Sequence[str], resources: Sequence[str], services: Mapping[str, DownstreamService]
) -> DownstreamService:
    """Every ``audience`` and ``resource`` value must name one and the same configured service.

    Raises:
        InvalidRequestError: neither parameter given (Deputy has no default downstream service).
        InvalidTargetError: a value naming no service (Deputy's own resource included), a malformed resource URI,
            or values naming two different services (RFC 8693 §2.2.2, RFC 8707 §2).
    """
    values = [*audiences, *(_absolute_uri(r) for r in resources)]
    if not values:
        raise InvalidRequestError("audience or resource is required")
    index = {ident: svc for svc in services.values() for ident in svc.identifiers}
    named = [_service_named(value, index) for value in values]
    if len({svc.name for svc in named}) > 1:
        raise InvalidTargetError("audience and resource values must all name the same service")
    return named[0]


def _service_named(value: str, index: Mapping[str, DownstreamService]) -> DownstreamService:
    try:
        service = index.get(canonical_resource(value))
    except ValueError:  # urlsplit refuses some malformed hosts
        service = None
    if service is None:
        raise InvalidTargetError("audience or resource names no service tokens can be exchanged for")
    return service


def _absolute_uri(value: str) -> str:
    """RFC 8707 §2: ``resource`` is an absolute URI without a fragment."""
    try:
        parts = urlsplit(value)
    except ValueError:
        raise InvalidTargetError("resource is not a valid URI") from None
    if not parts.scheme or not parts.netloc or parts.fragment or "#" in value:
        raise InvalidTargetError("resource must be an absolute URI without a fragment")
    return value


def validate_exchange_scope(
    requested: Sequence[str], subject_scopes: Iterable[str], service: DownstreamService
) -> tuple[str, ...]:
    """The issued scope: never wider than the subject token's, never wider than the service's policy.

    Without a ``scope`` parameter the token gets the overlap of the two. An explicit request beyond that overlap is
    refused rather than trimmed, so a client never holds less than it believes it asked for, nor more.

    Raises:
        InvalidScopeError: the request exceeds the overlap, or the overlap is empty.
    """
    held = set(subject_scopes)
    allowed = tuple(s for s in service.scopes if s in held)
    if requested:
        if any(s not in allowed for s in requested):
            raise InvalidScopeError("scope exceeds what the subject token and this service allow")
        return tuple(requested)
    if not allowed:
        raise InvalidScopeError("the subject token carries no scope this service may receive")
    return allowed


def check_client_admitted(service: DownstreamService, client_id: str) -> None:
    """Raises:
    UnauthorizedClientError: the service lists the clients that may exchange for it, and this is not one.
    """
    if not service.admits(client_id):
        raise UnauthorizedClientError("this client may not exchange tokens for that service")


def exchange_expiry(now: int, lifetime: int, subject_expires_at: int) -> int:
    """The service's lifetime, cut short so that the new token never outlives the subject token.

    Raises:
        InvalidSubjectTokenError: the subject token has expired (no clock-skew allowance here: it is Deputy's own
            clock on both sides).
    """
    if subject_expires_at <= now:
        raise InvalidSubjectTokenError("subject_token is invalid, expired or revoked", cause="expired")
    return min(now + lifetime, subject_expires_at)


def subject_act(token: str) -> Mapping[str, object] | None:
    """The ``act`` claim of a token whose signature has already been verified, or ``None``.

    Raises:
        InvalidSubjectTokenError: the payload cannot be read, or ``act`` is not an object.
    """
    try:
        payload = json.loads(extract_compact(token.encode("ascii")).payload)
    except (JoseError, ValueError, UnicodeError):
        raise InvalidSubjectTokenError("subject_token is invalid, expired or revoked", cause="payload") from None
    act = payload.get("act") if isinstance(payload, dict) else None
    if act is not None and not isinstance(act, dict):
        raise InvalidSubjectTokenError("subject_token is invalid, expired or revoked", cause="act")
    return act


def actor_claim(actor: str, prior: Mapping[str, object] | None = None) -> dict[str, object]:
    """RFC 8693 §4.1: the current actor outermost; an existing delegation chain nested beneath it.

    Only ``sub`` is kept at each level: §4.1 says claims inside ``act`` other than identity ones are not meaningful.

    Raises:
        InvalidSubjectTokenError: the existing chain is malformed or deeper than ``MAX_ACT_DEPTH``.
    """
    act: dict[str, object] = {"sub": actor}
    if prior is not None:
        act["act"] = _copy_chain(prior, 1)
    return act


def _copy_chain(act: Mapping[str, object], depth: int) -> dict[str, object]:
    sub, nested = act.get("sub"), act.get("act")
    if depth > MAX_ACT_DEPTH or not isinstance(sub, str) or not sub:
        raise InvalidSubjectTokenError("subject_token is invalid, expired or revoked", cause="act chain")
    out: dict[str, object] = {"sub": sub}
    if nested is not None:
        if not isinstance(nested, Mapping):
            raise InvalidSubjectTokenError("subject_token is invalid, expired or revoked", cause="act chain")
        out["act"] = _copy_chain(nested, depth + 1)
    return out


def mint_exchanged_token(
    key: SigningKey,
    *,
    issuer: str,
    subject: SubjectToken,
    audience: str,
    scopes: tuple[str, ...],
    act: Mapping[str, object],
    now: int,
    expires_at: int,
) -> tuple[str, str]:
    """Sign an RFC 9068 access token for a downstream audience; returns the token and its ``jti``.

    ``client_id`` stays the subject token's client (RFC 9068 §2.2: the client the token was issued to); who acted
    is in ``act``. There is no ``gid``: a downstream service has no use for Deputy's grant identifiers.
    """
    jti = secrets.token_hex(16)
    payload = {
        "iss": issuer,
        "sub": subject.user_id,
        "aud": audience,
        "client_id": subject.client_id,
        "scope": format_scope(scopes),
        "act": dict(act),
        "jti": jti,
        "iat": now,
        "exp": expires_at,
    }
    header = {"alg": SIGNING_ALG, "typ": AT_TYP, "kid": key.kid}
    return jwt.encode(header, payload, key.key, algorithms=[SIGNING_ALG]), jti
