"""RFC 7591 dynamic client registration under Deputy's strict policy."""

from __future__ import annotations

import json

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata

from deputy.errors import InvalidClientMetadataError, InvalidRedirectUriError
from deputy.oauth.registration import (
    DEFAULT_CLIENT_NAME,
    REFUSED_FIELDS,
    ClientMetadata,
    RegistrationPolicy,
    registration_response,
    validate_registration_request,
)

POLICY = RegistrationPolicy()
LOOPBACK = "http://127.0.0.1:33418/callback"
WEB = "https://app.example.com/oauth/callback"


def _body(**fields: object) -> dict[str, object]:
    return {"redirect_uris": [LOOPBACK], "client_name": "Example MCP client", **fields}


def _without(name: str) -> dict[str, object]:
    body = _body()
    del body[name]
    return body


def _refuse_metadata(body: object, policy: RegistrationPolicy = POLICY) -> None:
    with pytest.raises(InvalidClientMetadataError) as raised:
        validate_registration_request(body, policy)
    assert raised.value.error == "invalid_client_metadata"


def _refuse_redirect(body: object, policy: RegistrationPolicy = POLICY) -> None:
    with pytest.raises(InvalidRedirectUriError) as raised:
        validate_registration_request(body, policy)
    assert raised.value.error == "invalid_redirect_uri"


# --- accepted requests ------------------------------------------------------------------------------------------------


def test_minimal_request_gets_defaults() -> None:
    meta = validate_registration_request({"redirect_uris": [LOOPBACK]}, POLICY)
    assert meta == ClientMetadata(
        redirect_uris=(LOOPBACK,),
        client_name=DEFAULT_CLIENT_NAME,
        token_endpoint_auth_method="none",
        grant_types=("authorization_code", "refresh_token"),
        response_types=("code",),
        application_type="native",
    )


def test_full_request_is_kept() -> None:
    body = _body(
        redirect_uris=[WEB, "https://app.example.com/other"],
        token_endpoint_auth_method="client_secret_basic",
        grant_types=["authorization_code"],
        response_types=["code"],
        scope="read write",
        client_uri="https://app.example.com",
        logo_uri="https://app.example.com/logo.png",
        software_id="4NRB1-0XZABZI9E6-5SM3R",
        software_version="2.1",
        application_type="web",
        contacts=["ops@example.com"],
        tos_uri="https://app.example.com/tos",
        unknown_extension={"nested": [1, 2, None]},
    )
    meta = validate_registration_request(body, POLICY)
    assert meta == ClientMetadata(
        redirect_uris=(WEB, "https://app.example.com/other"),
        client_name="Example MCP client",
        token_endpoint_auth_method="client_secret_basic",
        grant_types=("authorization_code",),
        response_types=("code",),
        scope="read write",
        client_uri="https://app.example.com",
        logo_uri="https://app.example.com/logo.png",
        software_id="4NRB1-0XZABZI9E6-5SM3R",
        software_version="2.1",
        application_type="web",
        contacts=("ops@example.com",),
    )


def test_request_from_the_mcp_sdk_is_accepted() -> None:
    sdk = OAuthClientMetadata(
        redirect_uris=["http://localhost:3000/callback"],  # type: ignore[list-item]
        client_name="MCP SDK client",
        token_endpoint_auth_method="none",
        scope="read",
        client_uri="https://modelcontextprotocol.io",  # type: ignore[arg-type]
    )
    body = json.loads(sdk.model_dump_json(exclude_none=True))
    meta = validate_registration_request(body, POLICY)
    assert meta.redirect_uris == ("http://localhost:3000/callback",)
    assert meta.client_name == "MCP SDK client"
    assert meta.application_type == "native"


def test_null_optional_fields_mean_absent() -> None:
    nulls = dict.fromkeys(
        [
            "client_name",
            "token_endpoint_auth_method",
            "grant_types",
            "response_types",
            "scope",
            "client_uri",
            "logo_uri",
            "software_id",
            "software_version",
            "application_type",
            "contacts",
            *REFUSED_FIELDS,
        ]
    )
    meta = validate_registration_request({"redirect_uris": [LOOPBACK], **nulls}, POLICY)
    assert meta == validate_registration_request({"redirect_uris": [LOOPBACK]}, POLICY)


@pytest.mark.parametrize("name", ["client_uri", "logo_uri"])
def test_empty_informational_uri_means_absent(name: str) -> None:
    meta = validate_registration_request(_body(**{name: ""}), POLICY)
    assert getattr(meta, name) is None


def test_duplicate_grant_and_response_types_are_collapsed() -> None:
    body = _body(grant_types=["authorization_code", "refresh_token", "authorization_code"], response_types=["code"] * 2)
    meta = validate_registration_request(body, POLICY)
    assert meta.grant_types == ("authorization_code", "refresh_token")
    assert meta.response_types == ("code",)


def test_non_string_keys_are_ignored() -> None:
    body: dict[object, object] = {"redirect_uris": [LOOPBACK], 1: "x", None: [], ("a",): {}}
    assert validate_registration_request(body, POLICY).redirect_uris == (LOOPBACK,)


def test_custom_scheme_allowed_by_policy() -> None:
    policy = RegistrationPolicy(allowed_custom_schemes=frozenset({"com.example.app"}))
    meta = validate_registration_request(_body(redirect_uris=["com.example.app:/cb"]), policy)
    assert meta.redirect_uris == ("com.example.app:/cb",)
    _refuse_redirect(_body(redirect_uris=["com.example.app:/cb"]))


def test_max_redirect_uris_is_accepted() -> None:
    uris = [f"https://app.example.com/cb{i}" for i in range(POLICY.max_redirect_uris)]
    assert len(validate_registration_request(_body(redirect_uris=uris), POLICY).redirect_uris) == len(uris)


# --- client_name ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("Claude Code", "Claude Code"),
        ("  padded\u00a0 ", "padded"),
        ("ＡＢＣ", "ABC"),
        ("ﬁle sync", "file sync"),
        ("Ünïcödé ✓", "Ünïcödé ✓"),
        ("\u0041\u030a", "\u00c5"),
        ("👩\u200d💻 dev tool", "👩\u200d💻 dev tool"),
        ("x" * 100, "x" * 100),
    ],
)
def test_client_name_is_normalised(given: str, expected: str) -> None:
    assert validate_registration_request(_body(client_name=given), POLICY).client_name == expected


@pytest.mark.parametrize(
    "name",
    [
        "",
        "   ",
        "\u3000",
        "x" * 101,
        "x" * 500,
        "evil\u202egnp.exe",
        "a\u202ab",
        "a\u202bb",
        "a\u202cb",
        "a\u202db",
        "a\u2066b",
        "a\u2067b",
        "a\u2068b",
        "a\u2069b",
        "a\u200eb",
        "a\u200fb",
        "a\u061cb",
        "a\u200bb",
        "a\ufeffb",
        "a\u00adb",
        "line\nbreak",
        "tab\there",
        "nul\x00",
        "del\x7f",
        "c1\x85",
        "a\u2028b",
        "a\u2029b",
        "private\ue000use",
        "unassigned\U000e0080",
        "surrogate\ud800",
    ],
)
def test_unsafe_client_name_is_refused(name: str) -> None:
    _refuse_metadata(_body(client_name=name))


def test_client_name_length_follows_policy() -> None:
    policy = RegistrationPolicy(max_client_name_length=5)
    assert validate_registration_request(_body(client_name="abcde"), policy).client_name == "abcde"
    _refuse_metadata(_body(client_name="abcdef"), policy)


# --- application_type -------------------------------------------------------------------------------------------------

CUSTOM_POLICY = RegistrationPolicy(allowed_custom_schemes=frozenset({"com.example.app"}))


@pytest.mark.parametrize(
    ("uris", "expected"),
    [
        ([LOOPBACK], "native"),
        (["http://localhost/cb", "http://[::1]/cb"], "native"),
        (["com.example.app:/cb"], "native"),
        ([LOOPBACK, "com.example.app:/cb"], "native"),
        (["https://localhost/cb"], "native"),
        ([WEB], "web"),
        ([LOOPBACK, WEB], "web"),
    ],
)
def test_application_type_is_inferred(uris: list[str], expected: str) -> None:
    assert validate_registration_request(_body(redirect_uris=uris), CUSTOM_POLICY).application_type == expected


@pytest.mark.parametrize(("uris", "given"), [([LOOPBACK], "web"), ([WEB], "native"), ([WEB], "web")])
def test_application_type_given_is_kept(uris: list[str], given: str) -> None:
    assert (
        validate_registration_request(_body(redirect_uris=uris, application_type=given), POLICY).application_type
        == given
    )


# --- refused: body shape and credentials ------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [None, [], [_body()], "{}", "", 0, 1.5, True, False, b"{}", ("redirect_uris",)])
def test_non_object_body_is_refused(body: object) -> None:
    _refuse_metadata(body)


@pytest.mark.parametrize("name", REFUSED_FIELDS)
@pytest.mark.parametrize("value", ["s3cr3t", {"keys": []}, 0, "", [], False])
def test_client_chosen_credentials_are_refused(name: str, value: object) -> None:
    _refuse_metadata(_body(**{name: value}))


# --- refused: wrong types ---------------------------------------------------------------------------------------------

WRONG_TYPES: list[tuple[str, object]] = [
    ("client_name", 1),
    ("client_name", True),
    ("client_name", ["name"]),
    ("client_name", {"en": "name"}),
    ("token_endpoint_auth_method", True),
    ("token_endpoint_auth_method", ["none"]),
    ("grant_types", "authorization_code"),
    ("grant_types", [True]),
    ("grant_types", [["authorization_code"]]),
    ("grant_types", {"authorization_code": True}),
    ("response_types", "code"),
    ("response_types", [1]),
    ("scope", ["read"]),
    ("scope", 1),
    ("scope", False),
    ("client_uri", 1),
    ("client_uri", ["https://a.example"]),
    ("logo_uri", True),
    ("software_id", 123),
    ("software_id", True),
    ("software_version", 2.1),
    ("application_type", 1),
    ("application_type", ["web"]),
    ("application_type", {"web": 1}),
    ("contacts", "ops@example.com"),
    ("contacts", [1]),
    ("contacts", [None]),
    ("contacts", {"a": "b"}),
]


@pytest.mark.parametrize(("name", "value"), WRONG_TYPES)
def test_wrong_types_are_refused(name: str, value: object) -> None:
    _refuse_metadata(_body(**{name: value}))


# --- refused: values outside the policy -------------------------------------------------------------------------------

BAD_VALUES: list[tuple[str, object]] = [
    ("grant_types", []),
    ("grant_types", ["refresh_token"]),
    ("grant_types", ["implicit"]),
    ("grant_types", ["authorization_code", "password"]),
    ("grant_types", ["authorization_code", "client_credentials"]),
    ("grant_types", ["authorization_code", "urn:ietf:params:oauth:grant-type:jwt-bearer"]),
    ("grant_types", ["authorization_code", "urn:ietf:params:oauth:grant-type:device_code"]),
    ("grant_types", ["Authorization_Code"]),
    ("response_types", []),
    ("response_types", ["token"]),
    ("response_types", ["code", "token"]),
    ("response_types", ["code id_token"]),
    ("response_types", ["CODE"]),
    ("token_endpoint_auth_method", ""),
    ("token_endpoint_auth_method", "private_key_jwt"),
    ("token_endpoint_auth_method", "client_secret_jwt"),
    ("token_endpoint_auth_method", "tls_client_auth"),
    ("token_endpoint_auth_method", "NONE"),
    ("application_type", ""),
    ("application_type", "desktop"),
    ("application_type", "Web"),
    ("scope", ""),
    ("scope", " read"),
    ("scope", "read  write"),
    ("scope", "read\twrite"),
    ("scope", 'read "write"'),
    ("scope", "read\\write"),
    ("scope", "lecture_écrite"),
    ("scope", "a" * 1001),
    ("client_uri", "http://app.example.com"),
    ("client_uri", "javascript:alert(1)"),
    ("client_uri", "https://user@app.example.com"),
    ("client_uri", "app.example.com"),
    ("logo_uri", "http://app.example.com/logo.png"),
    ("logo_uri", "http://127.0.0.1/logo.png"),
    ("logo_uri", "data:image/png;base64,AAAA"),
    ("logo_uri", "https://app.example.com/logo.png#x"),
    ("software_id", ""),
    ("software_id", "x" * 256),
    ("software_id", "id\u202e"),
    ("software_version", "1.0\n"),
    ("contacts", [""]),
    ("contacts", ["a\x00@example.com"]),
    ("contacts", ["x" * 256]),
    ("contacts", [f"c{i}@example.com" for i in range(11)]),
]


@pytest.mark.parametrize(("name", "value"), BAD_VALUES)
def test_values_outside_policy_are_refused(name: str, value: object) -> None:
    _refuse_metadata(_body(**{name: value}))


def test_default_auth_method_must_be_allowed() -> None:
    policy = RegistrationPolicy(allowed_auth_methods=frozenset({"client_secret_basic"}))
    _refuse_metadata(_body(), policy)
    _refuse_metadata(_body(token_endpoint_auth_method="client_secret_post"), policy)
    meta = validate_registration_request(_body(token_endpoint_auth_method="client_secret_basic"), policy)
    assert meta.token_endpoint_auth_method == "client_secret_basic"


def test_scope_is_checked_only_when_the_policy_lists_scopes() -> None:
    policy = RegistrationPolicy(allowed_scopes=frozenset({"read", "write"}))
    assert validate_registration_request(_body(scope="write read"), policy).scope == "write read"
    _refuse_metadata(_body(scope="read admin"), policy)
    assert validate_registration_request(_body(scope="read admin"), POLICY).scope == "read admin"


# --- refused: redirect_uris -------------------------------------------------------------------------------------------

BAD_REDIRECT_URIS: list[object] = [
    None,
    [],
    "https://app.example.com/cb",
    {"uri": WEB},
    1,
    True,
    [1],
    [None],
    [True],
    [[WEB]],
    [WEB, WEB],
    [LOOPBACK, LOOPBACK],
    [f"https://app.example.com/cb{i}" for i in range(11)],
    [""],
    ["http://app.example.com/cb"],
    [WEB, "javascript:alert(1)"],
    ["https://app.example.com/cb#frag"],
    ["http://127.1/cb"],
    ["https://user@app.example.com/cb"],
    ["com.example.app:/cb"],
]


@pytest.mark.parametrize("value", BAD_REDIRECT_URIS)
def test_bad_redirect_uris_are_refused(value: object) -> None:
    _refuse_redirect(_body(redirect_uris=value))


def test_missing_redirect_uris_is_refused() -> None:
    _refuse_redirect(_without("redirect_uris"))


def test_redirect_uri_limit_follows_policy() -> None:
    policy = RegistrationPolicy(max_redirect_uris=1)
    _refuse_redirect(_body(redirect_uris=[LOOPBACK, WEB]), policy)


# --- response ---------------------------------------------------------------------------------------------------------


def test_public_client_response() -> None:
    meta = validate_registration_request({"redirect_uris": [LOOPBACK]}, POLICY)
    response = registration_response("client-123", None, 1_700_000_000, None, meta)
    assert response == {
        "client_id": "client-123",
        "client_id_issued_at": 1_700_000_000,
        "redirect_uris": [LOOPBACK],
        "client_name": DEFAULT_CLIENT_NAME,
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "application_type": "native",
    }


@pytest.mark.parametrize(("expires_at", "expected"), [(None, 0), (1_800_000_000, 1_800_000_000)])
def test_confidential_client_response(expires_at: int | None, expected: int) -> None:
    meta = validate_registration_request(_body(token_endpoint_auth_method="client_secret_post"), POLICY)
    response = registration_response("client-123", "s3cr3t", 1_700_000_000, expires_at, meta)
    assert response["client_secret"] == "s3cr3t"
    assert response["client_secret_expires_at"] == expected


def test_response_parses_as_mcp_sdk_client_information() -> None:
    body = _body(
        redirect_uris=[LOOPBACK, WEB],
        token_endpoint_auth_method="client_secret_basic",
        scope="read write",
        client_uri="https://app.example.com",
        logo_uri="https://app.example.com/logo.png",
        software_id="sw",
        software_version="1",
        contacts=["ops@example.com"],
    )
    meta = validate_registration_request(body, POLICY)
    response = registration_response("client-123", "s3cr3t", 1_700_000_000, None, meta)
    info = OAuthClientInformationFull.model_validate(json.loads(json.dumps(response)))
    assert info.client_id == "client-123"
    assert info.client_secret == "s3cr3t"
    assert info.client_secret_expires_at == 0
    assert info.client_id_issued_at == 1_700_000_000
    assert [str(uri) for uri in info.redirect_uris or []] == [LOOPBACK, WEB]
    assert info.token_endpoint_auth_method == "client_secret_basic"
    assert info.grant_types == ["authorization_code", "refresh_token"]
    assert info.response_types == ["code"]
    assert info.scope == "read write"
    assert info.client_name == "Example MCP client"
    assert info.application_type == "web"
    assert info.contacts == ["ops@example.com"]


def test_public_response_parses_as_mcp_sdk_client_information() -> None:
    meta = validate_registration_request({"redirect_uris": [LOOPBACK]}, POLICY)
    info = OAuthClientInformationFull.model_validate(registration_response("c", None, 1, None, meta))
    assert info.client_secret is None
    assert info.client_secret_expires_at is None
    assert info.token_endpoint_auth_method == "none"


@pytest.mark.parametrize(("method", "secret"), [("none", "s3cr3t"), ("client_secret_basic", None)])
def test_response_refuses_secret_inconsistent_with_auth_method(method: str, secret: str | None) -> None:
    meta = ClientMetadata(redirect_uris=(LOOPBACK,), client_name="x", token_endpoint_auth_method=method)
    with pytest.raises(ValueError):
        registration_response("c", secret, 1, None, meta)


# --- properties -------------------------------------------------------------------------------------------------------

FIELD_NAMES = [
    "redirect_uris",
    "client_name",
    "token_endpoint_auth_method",
    "grant_types",
    "response_types",
    "scope",
    "client_uri",
    "logo_uri",
    "software_id",
    "software_version",
    "application_type",
    "contacts",
    *REFUSED_FIELDS,
]
PLAUSIBLE = st.sampled_from(
    [
        LOOPBACK,
        WEB,
        "code",
        "authorization_code",
        "refresh_token",
        "none",
        "client_secret_basic",
        "web",
        "native",
        "read write",
        "https://app.example.com/logo.png",
        "com.example.app:/cb",
        "",
    ]
)
SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20) | PLAUSIBLE
JSON = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
BODIES = (
    JSON
    | st.dictionaries(st.sampled_from(FIELD_NAMES), JSON, max_size=6)
    | st.builds(
        lambda extra: {"redirect_uris": [LOOPBACK], **extra},
        st.dictionaries(st.sampled_from(FIELD_NAMES[1:]), JSON | st.lists(PLAUSIBLE, max_size=3), max_size=4),
    )
)


@given(BODIES)
@example({"redirect_uris": [LOOPBACK], "application_type": ["web"]})
@example({"redirect_uris": [LOOPBACK], "grant_types": [["authorization_code"]]})
@example({"redirect_uris": [[LOOPBACK]]})
def test_registration_only_raises_registration_errors(body: object) -> None:
    try:
        meta = validate_registration_request(body, CUSTOM_POLICY)
    except (InvalidClientMetadataError, InvalidRedirectUriError) as error:
        assert error.error in {"invalid_client_metadata", "invalid_redirect_uri"}
        return
    secret = None if meta.token_endpoint_auth_method == "none" else "s3cr3t"
    response = registration_response("c", secret, 1, None, meta)
    info = OAuthClientInformationFull.model_validate(json.loads(json.dumps(response)))
    assert info.client_id == "c"
