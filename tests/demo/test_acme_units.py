"""Small pure pieces: PKCE, scopes, cursors and field validation."""

from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deputy.demo.acme import pkce
from deputy.demo.acme.pagination import ParameterError, decode_cursor, encode_cursor, parse_limit
from deputy.demo.acme.resources import CONTACTS, DEALS, ValidationFailed, validate_create, validate_update
from deputy.demo.acme.scopes import UnknownScopeError, format_scope, parse_scope

VERIFIER_CHARS = st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def test_s256_matches_rfc_7636_appendix_b() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert pkce.s256(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    assert pkce.verify(verifier, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")


@given(st.text(VERIFIER_CHARS, min_size=43, max_size=128))
def test_any_valid_verifier_round_trips(verifier: str) -> None:
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    assert pkce.is_valid_challenge(challenge) and pkce.verify(verifier, challenge)


@pytest.mark.parametrize("verifier", ["", "a" * 42, "a" * 129, "a" * 42 + "!", "ä" * 50])
def test_malformed_verifiers_never_verify(verifier: str) -> None:
    assert not pkce.verify(verifier, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")


def test_scopes_parse_and_format_canonically() -> None:
    assert parse_scope(None) == parse_scope("  ") == frozenset({"profile"})
    assert parse_scope("notes:read  contacts:read notes:read") == frozenset({"notes:read", "contacts:read"})
    assert format_scope({"notes:read", "profile", "contacts:read"}) == "profile contacts:read notes:read"
    with pytest.raises(UnknownScopeError):
        parse_scope("profile openid")


@given(st.integers(min_value=0, max_value=10**15 - 1))
def test_cursors_round_trip(after: int) -> None:
    assert decode_cursor("deals", encode_cursor("deals", after)) == after
    with pytest.raises(ParameterError):
        decode_cursor("notes", encode_cursor("deals", after))


@given(st.text(max_size=300))
def test_arbitrary_cursor_text_is_a_parameter_error_or_a_position(raw: str) -> None:
    try:
        assert decode_cursor("contacts", raw) >= 0
    except ParameterError as exc:
        assert exc.name == "cursor"


def test_limits() -> None:
    assert parse_limit(None) == 20 and parse_limit("1") == 1 and parse_limit("100") == 100
    for raw in ("0", "101", "", "x", "²", "1e2"):
        with pytest.raises(ParameterError):
            parse_limit(raw)


def test_create_fills_defaults() -> None:
    assert validate_create(DEALS, {"title": "T", "amount": 3}) == {
        "title": "T",
        "amount": 3,
        "stage": "lead",
        "contact_id": None,
    }


def test_update_keeps_only_given_fields() -> None:
    assert validate_update(CONTACTS, {"email": None}) == {"email": None}


def test_validation_reports_every_problem() -> None:
    with pytest.raises(ValidationFailed) as caught:
        validate_create(CONTACTS, {"email": 5, "phone": "x"})
    assert [(e.field, e.message) for e in caught.value.errors] == [
        ("name", "is required"),
        ("email", "must be a string"),
        ("phone", "has an invalid format"),
    ]
