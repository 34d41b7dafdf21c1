"""private_key_jwt assertions, verified without a server: every claim rule, each broken on its own."""

from __future__ import annotations

import base64
import json
import warnings
from typing import Any

import pytest
from joserfc import jwt
from joserfc.errors import SecurityWarning
from joserfc.jwk import ECKey, KeySet, OctKey, OKPKey, RSAKey

from deputy.errors import InvalidClientError
from deputy.oauth.client_assertion import unverified_subject, validate_client_assertion

ISSUER = "https://deputy.example"
CLIENT_ID = "https://app.example.com/oauth/client.json"
NOW = 1_800_000_000
KEY = ECKey.generate_key("P-256", auto_kid=True)
KEYS = KeySet([ECKey.import_key(KEY.as_dict(private=False))])


def claims(**changes: Any) -> dict[str, Any]:
    base = {"iss": CLIENT_ID, "sub": CLIENT_ID, "aud": ISSUER, "exp": NOW + 60, "iat": NOW, "jti": "j-1"}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def sign(payload: dict[str, Any], key: Any = KEY, alg: str = "ES256", **header: Any) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)  # joserfc on EdDSA (RFC 9864)
        return jwt.encode({"alg": alg, "kid": key.kid, **header}, payload, key, algorithms=[alg])


def verify(assertion: str, keys: KeySet = KEYS) -> Any:
    return validate_client_assertion(assertion, client_id=CLIENT_ID, keys=keys, issuer=ISSUER, now=NOW)


def refused(assertion: str, keys: KeySet = KEYS) -> None:
    with pytest.raises(InvalidClientError) as info:
        verify(assertion, keys)
    assert info.value.description == "client authentication failed"  # one message for every failure


def test_a_valid_assertion_is_accepted() -> None:
    verified = verify(sign(claims()))
    assert (verified.client_id, verified.jti, verified.expires_at) == (CLIENT_ID, "j-1", NOW + 60)
    assert unverified_subject(sign(claims())) == CLIENT_ID


@pytest.mark.parametrize(
    ("key", "alg"),
    [
        (RSAKey.generate_key(2048, auto_kid=True), "RS256"),
        (RSAKey.generate_key(2048, auto_kid=True), "PS256"),
        (OKPKey.generate_key("Ed25519", auto_kid=True), "EdDSA"),
    ],
)
def test_the_other_allowed_algorithms_work(key: Any, alg: str) -> None:
    keys = KeySet([type(key).import_key(key.as_dict(private=False))])
    assert verify(sign(claims(), key, alg), keys).jti == "j-1"


def test_a_one_element_audience_list_naming_only_the_issuer_is_accepted() -> None:
    assert verify(sign(claims(aud=[ISSUER]))).jti == "j-1"


@pytest.mark.parametrize(
    "aud",
    [
        ISSUER + "/token",  # the token endpoint URL (RFC 7523's old MAY; rfc7523bis forbids it)
        [ISSUER, "https://other.example"],
        [ISSUER, ISSUER + "/token"],
        [],
        ISSUER + "/",
        "https://other.example",
        None,
    ],
)
def test_aud_must_be_the_issuer_and_nothing_else(aud: object) -> None:
    refused(sign(claims(aud=aud)))


@pytest.mark.parametrize(
    "changes",
    [
        {"exp": NOW},  # expired
        {"exp": NOW - 600},
        {"exp": None},  # missing
        {"exp": NOW + 301},  # more than five minutes ahead
        {"exp": str(NOW + 60)},
        {"exp": True},
        {"iat": NOW + 600},
        {"nbf": NOW + 600},
        {"jti": None},
        {"jti": ""},
        {"jti": 7},
        {"iss": "https://evil.example/client.json"},
        {"sub": "https://evil.example/client.json"},
        {"iss": None},
    ],
)
def test_each_claim_rule(changes: dict[str, Any]) -> None:
    refused(sign(claims(**changes)))


def test_a_key_outside_the_clients_set_is_refused() -> None:
    other = ECKey.generate_key("P-256", auto_kid=True)
    refused(sign(claims(), other))
    refused(sign(claims(), other, kid=KEY.kid))  # claiming the client's kid does not help


def test_alg_none_is_refused() -> None:
    def b64(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    refused(f"{b64({'alg': 'none'})}.{b64(claims())}.")
    refused(f"{b64({'alg': 'none', 'kid': KEY.kid})}.{b64(claims())}.")


def test_hmac_is_refused_even_keyed_with_the_public_key() -> None:
    refused(sign(claims(), OctKey.generate_key(256, auto_kid=True), "HS256"))
    public_as_secret = OctKey.import_key(json.dumps(KEY.as_dict(private=False)).encode())
    refused(jwt.encode({"alg": "HS256", "kid": KEY.kid}, claims(), public_as_secret, algorithms=["HS256"]))


def test_an_access_token_type_is_refused() -> None:
    refused(sign(claims(), typ="at+jwt"))
    assert verify(sign(claims(), typ="client-authentication+jwt")).jti == "j-1"


def test_garbage_is_refused() -> None:
    for junk in ("", "a.b", "a.b.c", "eyJhbGciOiJFUzI1NiJ9.e30.AAAA"):
        refused(junk)
        assert unverified_subject(junk) is None
