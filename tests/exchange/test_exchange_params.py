"""The pure token-exchange core: parameters (RFC 8693 §2.1), target resolution, scope narrowing, lifetime, act."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from joserfc import jwt
from joserfc.jwk import KeySet

from deputy.broker.exchange import (
    ACCESS_TOKEN_TYPE,
    GRANT_TYPE,
    JWT_TOKEN_TYPE,
    DownstreamService,
    ExchangedToken,
    InvalidSubjectTokenError,
    SubjectToken,
    actor_claim,
    check_client_admitted,
    downstream_services,
    exchange_expiry,
    mint_exchanged_token,
    parse_exchange_request,
    split_targets,
    subject_act,
    validate_exchange_scope,
    validate_target,
)
from deputy.config import DownstreamSettings
from deputy.errors import InvalidRequestError, InvalidScopeError, InvalidTargetError, OAuthError
from deputy.keys import KeyRing

SERVICES = downstream_services(
    {
        "reports": DownstreamSettings(
            audience="https://Reports.example:443", resources=("https://reports.example/api",), scopes=("crm.read",)
        ),
        "billing": DownstreamSettings(audience="billing", scopes=("crm.read", "crm.write"), clients=("c1",)),
    }
)
BASE = {"subject_token": "secret-subject-value", "subject_token_type": ACCESS_TOKEN_TYPE}


def _parse(**form: str) -> Any:
    return parse_exchange_request({**BASE, **form}, ("billing",), ())


def test_grant_type_is_the_rfc_8693_urn() -> None:
    assert GRANT_TYPE == "urn:ietf:params:oauth:grant-type:token-exchange"


def test_a_minimal_request_parses_with_access_token_as_the_default_requested_type() -> None:
    req = _parse()
    assert req.subject_token == "secret-subject-value"
    assert (req.subject_token_type, req.requested_token_type) == (ACCESS_TOKEN_TYPE, ACCESS_TOKEN_TYPE)
    assert req.audiences == ("billing",) and req.scopes == ()
    assert "secret-subject-value" not in repr(req)


@pytest.mark.parametrize("kind", [ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE])
def test_subject_and_requested_types_accept_access_token_and_jwt(kind: str) -> None:
    req = _parse(subject_token_type=kind, requested_token_type=kind)
    assert (req.subject_token_type, req.requested_token_type) == (kind, kind)


@pytest.mark.parametrize(
    "form",
    [
        {"subject_token": ""},
        {"subject_token_type": ""},
        {"subject_token_type": "urn:ietf:params:oauth:token-type:refresh_token"},
        {"subject_token_type": "urn:ietf:params:oauth:token-type:id_token"},
        {"requested_token_type": "urn:ietf:params:oauth:token-type:refresh_token"},
        {"actor_token": "someone-else"},
        {"actor_token_type": ACCESS_TOKEN_TYPE},
    ],
)
def test_malformed_requests_are_invalid_request(form: dict[str, str]) -> None:
    data = {k: v for k, v in {**BASE, **form}.items() if v}
    with pytest.raises(InvalidRequestError) as caught:
        parse_exchange_request(data, ("billing",), ())
    assert caught.value.error == "invalid_request"


def test_actor_token_refusal_says_why() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        _parse(actor_token="x", actor_token_type=ACCESS_TOKEN_TYPE)
    assert "actor_token" in caught.value.description


def test_a_malformed_scope_is_invalid_scope() -> None:
    with pytest.raises(InvalidScopeError):
        _parse(scope='crm.read "quoted"')


def test_split_targets_keeps_repeats_of_audience_and_resource_only() -> None:
    pairs = [
        ("grant_type", GRANT_TYPE),
        ("audience", "a"),
        ("resource", "https://r/x"),
        ("audience", "b"),
        ("audience", "a"),
        ("audience", ""),
        ("scope", "crm.read"),
    ]
    rest, audiences, resources = split_targets(pairs)
    assert rest == [("grant_type", GRANT_TYPE), ("scope", "crm.read")]
    assert audiences == ("a", "b") and resources == ("https://r/x",)


def test_split_targets_bounds_the_number_and_length_of_values() -> None:
    with pytest.raises(InvalidRequestError):
        split_targets([("audience", f"a{i}") for i in range(11)])
    with pytest.raises(InvalidRequestError):
        split_targets([("resource", "https://r/" + "x" * 3000)])


@pytest.mark.parametrize(
    ("audiences", "resources", "name"),
    [
        (("billing",), (), "billing"),
        (("https://reports.example",), (), "reports"),  # canonical form of the configured audience
        (("HTTPS://REPORTS.EXAMPLE:443",), (), "reports"),
        ((), ("https://reports.example/api",), "reports"),
        (("https://reports.example/api",), ("https://reports.example",), "reports"),  # both parameters, one service
    ],
)
def test_targets_resolve_to_one_service(audiences: tuple[str, ...], resources: tuple[str, ...], name: str) -> None:
    assert validate_target(audiences, resources, SERVICES).name == name


@pytest.mark.parametrize(
    ("audiences", "resources"),
    [
        (("https://unknown.example",), ()),
        ((), ("https://unknown.example/api",)),
        (("https://deputy.example/mcp",), ()),  # Deputy's own resource is never a downstream target
        (("Billing",), ()),  # logical names are exact
        (("billing",), ("https://reports.example/api",)),  # two services in one request
        (("billing", "https://reports.example"), ()),
        (("billing",), ("billing",)),  # a resource must be an absolute URI
        ((), ("https://reports.example/api#frag",)),
        ((), ("https://[bad/api",)),
    ],
)
def test_unknown_mixed_or_malformed_targets_are_invalid_target(
    audiences: tuple[str, ...], resources: tuple[str, ...]
) -> None:
    with pytest.raises(InvalidTargetError):
        validate_target(audiences, resources, SERVICES)


def test_no_target_at_all_is_invalid_request() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        validate_target((), (), SERVICES)
    assert caught.value.error == "invalid_request"


@given(st.lists(st.text(min_size=1, max_size=40), max_size=4), st.lists(st.text(min_size=1, max_size=40), max_size=4))
def test_target_resolution_never_crashes_and_never_invents_a_service(
    audiences: list[str], resources: list[str]
) -> None:
    try:
        service = validate_target(audiences, resources, SERVICES)
    except OAuthError as exc:
        assert exc.error in ("invalid_target", "invalid_request")
    else:
        assert service.name in SERVICES


def _svc(scopes: tuple[str, ...]) -> DownstreamService:
    return DownstreamService("s", "s", frozenset({"s"}), scopes, 60, None)


@pytest.mark.parametrize(
    ("requested", "held", "policy", "issued"),
    [
        ((), ("crm.read", "crm.write"), ("crm.read",), ("crm.read",)),  # policy narrows the default
        ((), ("crm.read",), ("crm.read", "crm.write"), ("crm.read",)),  # the subject narrows it too
        (("crm.read",), ("crm.read", "crm.write"), ("crm.read", "crm.write"), ("crm.read",)),
    ],
)
def test_issued_scope_is_the_request_within_subject_and_policy(
    requested: tuple[str, ...], held: tuple[str, ...], policy: tuple[str, ...], issued: tuple[str, ...]
) -> None:
    assert validate_exchange_scope(requested, held, _svc(policy)) == issued


@pytest.mark.parametrize(
    ("requested", "held", "policy"),
    [
        (("crm.write",), ("crm.read",), ("crm.read", "crm.write")),  # wider than the subject token
        (("crm.write",), ("crm.read", "crm.write"), ("crm.read",)),  # wider than the service's policy
        (("crm.read", "admin"), ("crm.read",), ("crm.read",)),
        ((), ("crm.write",), ("crm.read",)),  # nothing in common
    ],
)
def test_wider_or_empty_scope_is_invalid_scope(
    requested: tuple[str, ...], held: tuple[str, ...], policy: tuple[str, ...]
) -> None:
    with pytest.raises(InvalidScopeError):
        validate_exchange_scope(requested, held, _svc(policy))


@given(
    st.lists(st.sampled_from(["a", "b", "c", "d"]), unique=True),
    st.lists(st.sampled_from(["a", "b", "c", "d"]), unique=True),
    st.lists(st.sampled_from(["a", "b", "c", "d"]), unique=True, min_size=1),
)
def test_scope_is_never_widened(requested: list[str], held: list[str], policy: list[str]) -> None:
    try:
        issued = validate_exchange_scope(tuple(requested), held, _svc(tuple(policy)))
    except InvalidScopeError:
        return
    assert issued and set(issued) <= set(held) & set(policy)
    assert not requested or set(issued) == set(requested)


def test_client_allowlist() -> None:
    check_client_admitted(SERVICES["billing"], "c1")
    check_client_admitted(SERVICES["reports"], "anyone")  # no list: any client holding a suitable token
    with pytest.raises(OAuthError) as caught:
        check_client_admitted(SERVICES["billing"], "c2")
    assert caught.value.error == "unauthorized_client"


def test_lifetime_never_outlives_the_subject_token() -> None:
    assert exchange_expiry(1000, 60, 5000) == 1060
    assert exchange_expiry(1000, 60, 1030) == 1030
    with pytest.raises(InvalidSubjectTokenError) as caught:
        exchange_expiry(1000, 60, 1000)
    assert caught.value.error == "invalid_request"  # RFC 8693 §2.2.2


def test_act_names_the_actor_and_nests_an_existing_chain() -> None:
    assert actor_claim("client-a") == {"sub": "client-a"}
    prior = {"sub": "client-b", "extra": "dropped", "act": {"sub": "client-c"}}
    assert actor_claim("client-a", prior) == {"sub": "client-a", "act": {"sub": "client-b", "act": {"sub": "client-c"}}}


@pytest.mark.parametrize(
    "prior",
    [
        {"sub": ""},
        {"no": "sub"},
        {"sub": "x", "act": "flat"},
        {"sub": "1", "act": {"sub": "2", "act": {"sub": "3", "act": {"sub": "4", "act": {"sub": "5"}}}}},
    ],
)
def test_a_malformed_or_too_deep_act_chain_is_refused(prior: dict[str, object]) -> None:
    with pytest.raises(InvalidSubjectTokenError):
        actor_claim("client-a", prior)


def test_minted_token_has_the_exchanged_claims_and_act_is_readable_back() -> None:
    ring = KeyRing.generate(1000)
    subject = SubjectToken("user-1", "client-1", ("crm.read",), "jti-1", "gid-1", 2000)
    token, jti = mint_exchanged_token(
        ring.current_signing,
        issuer="https://deputy.example",
        subject=subject,
        audience="billing",
        scopes=("crm.read",),
        act=actor_claim("client-1", {"sub": "earlier"}),
        now=1000,
        expires_at=1060,
    )
    keys = KeySet.import_key_set(ring.public_jwks())  # type: ignore[arg-type]
    decoded = jwt.decode(token, keys, algorithms=["ES256"])
    assert decoded.header["typ"] == "at+jwt" and decoded.header["kid"] == ring.current_signing.kid
    assert decoded.claims == {
        "iss": "https://deputy.example",
        "sub": "user-1",
        "aud": "billing",
        "client_id": "client-1",
        "scope": "crm.read",
        "act": {"sub": "client-1", "act": {"sub": "earlier"}},
        "jti": jti,
        "iat": 1000,
        "exp": 1060,
    }
    assert subject_act(token) == {"sub": "client-1", "act": {"sub": "earlier"}}


def test_subject_act_refuses_unreadable_tokens() -> None:
    with pytest.raises(InvalidSubjectTokenError):
        subject_act("not-a-jws")


def test_response_body_is_rfc_8693_section_2_2_1() -> None:
    issued = ExchangedToken("the-token", ACCESS_TOKEN_TYPE, 60, ("crm.read",), "billing", "billing", "j")
    assert issued.to_json() == {
        "access_token": "the-token",
        "issued_token_type": ACCESS_TOKEN_TYPE,
        "token_type": "Bearer",
        "expires_in": 60,
        "scope": "crm.read",
    }
    assert "the-token" not in repr(issued)
