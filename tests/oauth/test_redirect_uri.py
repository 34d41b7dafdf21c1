"""Redirect URI registration policy and matching (RFC 7591 §2, OAuth 2.1 §2.3, RFC 8252, RFC 9700 §2.1)."""

from __future__ import annotations

import re
import string

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from deputy.errors import InvalidRedirectUriError, OAuthError
from deputy.oauth.redirect_uri import (
    ALWAYS_REFUSED_SCHEMES,
    MAX_REDIRECT_URI_LENGTH,
    check_redirect_uri_matches,
    is_loopback_redirect_uri,
    redirect_host,
    validate_registered_redirect_uri,
)

CUSTOM: frozenset[str] = frozenset({"com.example.app"})


def _is_accepted(uri: str, custom: frozenset[str] = CUSTOM) -> bool:
    try:
        validate_registered_redirect_uri(uri, allowed_custom_schemes=custom)
    except InvalidRedirectUriError:
        return False
    return True


# --- registration policy: accepted ------------------------------------------------------------------------------------

ACCEPTED = [
    "https://example.com/callback",
    "https://example.com",
    "https://example.com/",
    "https://example.com:8443/cb",
    "https://example.com/cb?client=1&x=y",
    "https://example.com/cb?",
    "https://sub.example.co.uk/a/b/c",
    "https://example.com/a@b",
    "https://example.com/%7Euser/cb",
    "https://example.com/.well-known/cb",
    "https://example.com/a/.../b",
    "https://xn--exmple-cua.com/cb",
    "https://intranet/cb",
    "https://203.0.113.7/cb",
    "https://[2001:db8::1]/cb",
    "https://[2001:DB8::1]:8443/cb",
    "https://localhost/cb",
    "HTTPS://Example.COM/Callback",
    "http://localhost/cb",
    "http://localhost:8080/callback",
    "http://LOCALHOST:8080/callback",
    "HTTP://127.0.0.1/cb",
    "http://127.0.0.1/cb",
    "http://127.0.0.1:33418/oauth/callback",
    "http://127.255.255.254:1/cb",
    "http://127.0.0.1:65535",
    "http://[::1]/cb",
    "http://[::1]:3000/callback",
    "com.example.app:/oauth2redirect/example-provider",
    "COM.Example.App:/cb",
    "com.example.app://callback",
    "com.example.app:callback",
]


@pytest.mark.parametrize("uri", ACCEPTED)
def test_accepted_redirect_uri_is_returned_unchanged(uri: str) -> None:
    assert validate_registered_redirect_uri(uri, allowed_custom_schemes=CUSTOM) == uri


def test_max_length_is_accepted() -> None:
    uri = "https://example.com/" + "a" * (MAX_REDIRECT_URI_LENGTH - len("https://example.com/"))
    assert validate_registered_redirect_uri(uri) == uri


# --- registration policy: refused -------------------------------------------------------------------------------------

REFUSED = [
    # not absolute / empty
    "",
    "/callback",
    "callback",
    "//example.com/cb",
    "example.com/cb",
    # fragments, including the classic authority confusion
    "https://example.com/cb#",
    "https://example.com/cb#frag",
    "https://a.com#@b.com",
    "https://a.com/#@b.com/",
    # userinfo, plain and disguised
    "https://user@example.com/cb",
    "https://user:pass@example.com/cb",
    "https://@example.com/cb",
    "http://127.0.0.1:80@evil.com/cb",
    "http://127.0.0.1@evil.com/cb",
    "http://evil.com@127.0.0.1/cb",
    "https://example.com%40evil.com/cb",
    "https://evil.com%2f@example.com/cb",
    # backslash tricks
    "http://evil.com\\@127.0.0.1/cb",
    "https://example.com\\evil.com/cb",
    "https://example.com/cb\\..\\x",
    # scheme policy
    "http://example.com/cb",
    "http://192.168.1.10/cb",
    "http://10.0.0.1/cb",
    "http://0.0.0.0/cb",
    "http://[::]/cb",
    "http://[::2]/cb",
    "http://localhost.example.com/cb",
    "http://127.0.0.1.nip.io/cb",
    "javascript:alert(1)",
    "JavaScript:alert(1)//",
    "data:text/html,<script>alert(1)</script>",
    "data:text/html;base64,PHNjcmlwdD4=",
    "file:///etc/passwd",
    "vbscript:msgbox(1)",
    "about:blank",
    "blob:https://example.com/uuid",
    "ftp://example.com/cb",
    "ws://localhost/cb",
    "wss://example.com/cb",
    "mailto:a@example.com",
    "urn:ietf:wg:oauth:2.0:oob",
    "com.other.app:/cb",
    "localhost:8080/cb",
    "1http://example.com/",
    # non-canonical numeric hosts, as loopback and as https hosts
    "http://127.1/cb",
    "http://127.0.1/cb",
    "http://0x7f.0.0.1/cb",
    "http://0x7f000001/cb",
    "http://2130706433/cb",
    "http://017700000001/cb",
    "http://0177.0.0.1/cb",
    "http://127.0.0.01/cb",
    "http://127.000.000.001/cb",
    "http://127.0.0.1.1/cb",
    "http://256.0.0.1/cb",
    "https://127.1/cb",
    "https://2130706433/cb",
    "https://0x7f.0.0.1/cb",
    "https://example.123/cb",
    "https://example.0x1/cb",
    "https://1.2.3/cb",
    # IPv6 literals
    "http://[0:0:0:0:0:0:0:1]/cb",
    "http://[0000::1]/cb",
    "http://[::ffff:127.0.0.1]/cb",
    "https://[::ffff:7f00:1]/cb",
    "http://[::1/cb",
    "http://::1/cb",
    "http://[::1]x/cb",
    "https://[fe80::1%25eth0]/cb",
    "https://[v1.x]/cb",
    "https://[example.com]/cb",
    # malformed hosts
    "http:/127.0.0.1/cb",
    "http:127.0.0.1/cb",
    "http:///cb",
    "https:///cb",
    "https://:443/cb",
    "https://exa_mple.com/cb",
    "https://-example.com/cb",
    "https://example-.com/cb",
    "https://example..com/cb",
    "https://example.com./cb",
    "https://.example.com/cb",
    "https://ex%61mple.com/cb",
    "https://" + "a" * 64 + ".com/cb",
    "https://" + ".".join(["a" * 60] * 5) + "/cb",
    "https://xn--zz.com/cb",
    # unicode hosts and paths (IRIs are not URIs)
    "https://exämple.com/cb",
    "https://пример.рф/cb",
    "https://example.com/cb/ü",
    "https://ｅｘａｍｐｌｅ.com/cb",
    "https://example\u3002com/cb",
    # ports
    "https://example.com:0/cb",
    "https://example.com:65536/cb",
    "https://example.com:99999/cb",
    "https://example.com:080/cb",
    "https://example.com:/cb",
    "https://example.com:http/cb",
    "https://example.com:443:443/cb",
    "https://example.com:-1/cb",
    "https://example.com:+443/cb",
    "http://127.0.0.1:８０/cb",
    # dot segments, plain and encoded
    "https://example.com/./cb",
    "https://example.com/../cb",
    "https://example.com/cb/..",
    "https://example.com/cb/.",
    "https://example.com/a/../../cb",
    "https://example.com/%2e%2e/cb",
    "https://example.com/%2E%2E/cb",
    "https://example.com/.%2e/cb",
    "https://example.com/%2e/cb",
    "https://example.com/%252e%252e/cb",
    "https://example.com/a%2f..%2fb",
    "https://example.com/a%5c..%5cb",
    "http://localhost/cb/../admin",
    "com.example.app:/../cb",
    "com.example.app:..",
    # whitespace, control and other non-URI characters
    " https://example.com/cb",
    "https://example.com/cb ",
    "https://example.com/c b",
    "https://example.com/cb\n",
    "https://exam\tple.com/cb",
    "https://example.com/\x00",
    "https://example.com/\x7f",
    "https://example.com/\u00a0",
    "https://example.com/\u2028",
    "https://example.com/cb%0a",
    "https://example.com/cb?a=<script>",
    'https://example.com/"x"',
    "https://example.com/{x}",
    "https://example.com/a|b",
    "https://example.com/a^b",
    "https://example.com/`x`",
    "https://example.com/%",
    "https://example.com/%zz",
    "https://example.com/%4",
    # custom schemes need a path or a valid host
    "com.example.app:",
    "com.example.app://",
    "com.example.app://user@host/cb",
    # too long
    "https://example.com/" + "a" * MAX_REDIRECT_URI_LENGTH,
]


@pytest.mark.parametrize("uri", REFUSED)
def test_refused_redirect_uri(uri: str) -> None:
    with pytest.raises(InvalidRedirectUriError) as raised:
        validate_registered_redirect_uri(uri, allowed_custom_schemes=CUSTOM)
    assert raised.value.error == "invalid_redirect_uri"


@pytest.mark.parametrize("scheme", sorted(ALWAYS_REFUSED_SCHEMES | {"http", "https"}))
def test_dangerous_schemes_are_refused_even_when_allowed_as_custom(scheme: str) -> None:
    uri = f"{scheme}:/cb"
    with pytest.raises(InvalidRedirectUriError):
        validate_registered_redirect_uri(uri, allowed_custom_schemes=frozenset({scheme}))


def test_custom_scheme_is_refused_by_default() -> None:
    with pytest.raises(InvalidRedirectUriError):
        validate_registered_redirect_uri("com.example.app:/cb")


def test_custom_scheme_allow_list_is_case_insensitive() -> None:
    uri = "com.example.app:/cb"
    assert validate_registered_redirect_uri(uri, allowed_custom_schemes=frozenset({"COM.Example.App"})) == uri


def test_description_does_not_echo_the_uri() -> None:
    uri = "https://evil.example/<script>#frag"
    with pytest.raises(InvalidRedirectUriError) as raised:
        validate_registered_redirect_uri(uri)
    assert "evil.example" not in raised.value.description
    assert "<script>" not in raised.value.description


# --- matching -------------------------------------------------------------------------------------------------------

MATCHES = [
    ("https://example.com/cb", "https://example.com/cb"),
    ("https://example.com/cb?a=1", "https://example.com/cb?a=1"),
    ("HTTPS://Example.com/cb", "HTTPS://Example.com/cb"),
    ("com.example.app:/cb", "com.example.app:/cb"),
    # RFC 8252 §7.3: loopback port may vary, including no port vs a port
    ("http://127.0.0.1/cb", "http://127.0.0.1:49152/cb"),
    ("http://127.0.0.1:8080/cb", "http://127.0.0.1:9090/cb"),
    ("http://127.0.0.1:8080/cb", "http://127.0.0.1/cb"),
    ("http://127.0.0.1:8080/cb", "http://127.0.0.1:8080/cb"),
    ("http://127.0.0.1/cb?x=1", "http://127.0.0.1:1/cb?x=1"),
    ("http://127.0.0.1", "http://127.0.0.1:65535"),
    ("http://127.0.0.2/cb", "http://127.0.0.2:5000/cb"),
    ("http://[::1]/cb", "http://[::1]:61000/cb"),
    ("http://[::1]:3000/cb", "http://[::1]/cb"),
    ("http://localhost/cb", "http://localhost:3000/cb"),
    ("http://localhost:3000/cb", "http://localhost:4000/cb"),
    ("HTTP://LOCALHOST/cb", "HTTP://LOCALHOST:4000/cb"),
]


@pytest.mark.parametrize(("registered", "requested"), MATCHES)
def test_redirect_uri_matches(registered: str, requested: str) -> None:
    assert check_redirect_uri_matches([registered], requested)


NON_MATCHES = [
    # trailing slash, extra path, case, query, fragment
    ("https://example.com/cb", "https://example.com/cb/"),
    ("https://example.com/cb/", "https://example.com/cb"),
    ("https://example.com/cb", "https://example.com/cb/extra"),
    ("https://example.com/cb", "https://example.com/cbx"),
    ("https://example.com/cb", "https://example.com/CB"),
    ("https://example.com/cb", "https://Example.com/cb"),
    ("https://example.com/cb", "HTTPS://example.com/cb"),
    ("https://example.com/cb", "https://example.com/cb?x=1"),
    ("https://example.com/cb?x=1", "https://example.com/cb?x=1&y=2"),
    ("https://example.com/cb?x=1", "https://example.com/cb"),
    ("https://example.com/cb", "https://example.com/cb?"),
    ("https://example.com/cb", "https://example.com/cb#"),
    ("https://example.com/cb", "https://example.com/cb#x"),
    ("https://example.com/cb", "https://example.com/%63b"),
    ("https://example.com/cb", "https://example.com/./cb"),
    ("https://example.com/cb", "https://example.com/x/../cb"),
    ("https://example.com/cb", " https://example.com/cb"),
    ("https://example.com/cb", "https://example.com/cb "),
    # port on non-loopback or https loopback
    ("https://example.com/cb", "https://example.com:443/cb"),
    ("https://example.com:8443/cb", "https://example.com:9443/cb"),
    ("https://localhost/cb", "https://localhost:8443/cb"),
    ("https://127.0.0.1/cb", "https://127.0.0.1:8443/cb"),
    ("com.example.app://host/cb", "com.example.app://host:1/cb"),
    # userinfo and host confusion
    ("https://example.com/cb", "https://user@example.com/cb"),
    ("http://127.0.0.1/cb", "http://user@127.0.0.1:5000/cb"),
    ("http://127.0.0.1/cb", "http://127.0.0.1:80@evil.com/cb"),
    ("http://127.0.0.1/cb", "http://127.0.0.1:5000@evil.com/cb"),
    ("http://127.0.0.1/cb", "http://127.0.0.1.evil.com/cb"),
    ("http://127.0.0.1/cb", "http://evil.com/cb"),
    # different loopback host or scheme
    ("http://127.0.0.1/cb", "http://localhost:5000/cb"),
    ("http://localhost/cb", "http://127.0.0.1/cb"),
    ("http://127.0.0.1/cb", "http://[::1]:5000/cb"),
    ("http://127.0.0.1/cb", "http://127.0.0.2:5000/cb"),
    ("http://127.0.0.1/cb", "http://127.1:5000/cb"),
    ("http://127.0.0.1/cb", "https://127.0.0.1:5000/cb"),
    ("http://127.0.0.1/cb", "HTTP://127.0.0.1:5000/cb"),
    ("http://localhost/cb", "http://LOCALHOST:5000/cb"),
    # loopback: anything but the port varies
    ("http://127.0.0.1/cb", "http://127.0.0.1:5000/cb/"),
    ("http://127.0.0.1/cb", "http://127.0.0.1:5000/CB"),
    ("http://127.0.0.1/cb", "http://127.0.0.1:5000/cb?x=1"),
    ("http://127.0.0.1/cb", "http://127.0.0.1:5000/cb#x"),
    ("http://127.0.0.1/cb", "http://127.0.0.1:5000/cb#"),
    ("http://127.0.0.1/cb?a=1", "http://127.0.0.1:5000/cb?a=2"),
    ("http://127.0.0.1/cb", "http://127.0.0.1:5000"),
    # loopback: malformed ports
    ("http://127.0.0.1/cb", "http://127.0.0.1:/cb"),
    ("http://127.0.0.1/cb", "http://127.0.0.1:0/cb"),
    ("http://127.0.0.1/cb", "http://127.0.0.1:65536/cb"),
    ("http://127.0.0.1/cb", "http://127.0.0.1:05000/cb"),
    ("http://127.0.0.1/cb", "http://127.0.0.1:50 00/cb"),
    ("http://127.0.0.1/cb", "http://127.0.0.1:+5000/cb"),
    ("http://127.0.0.1/cb", "http://127.0.0.1:٥٠٠٠/cb"),
    ("http://127.0.0.1/cb", "http://127.0.0.1:5000:6000/cb"),
    ("http://[::1]/cb", "http://[::1]:/cb"),
    ("http://[::1]/cb", "http://[::1]x/cb"),
    # nothing registered, garbage requested
    ("http://127.0.0.1/cb", ""),
    ("http://127.0.0.1/cb", "/cb"),
]


@pytest.mark.parametrize(("registered", "requested"), NON_MATCHES)
def test_redirect_uri_does_not_match(registered: str, requested: str) -> None:
    assert not check_redirect_uri_matches([registered], requested)


def test_any_of_several_registered_uris_matches() -> None:
    registered = ["https://a.example/cb", "http://127.0.0.1/cb"]
    assert check_redirect_uri_matches(registered, "https://a.example/cb")
    assert check_redirect_uri_matches(registered, "http://127.0.0.1:4000/cb")
    assert not check_redirect_uri_matches(registered, "https://b.example/cb")
    assert not check_redirect_uri_matches([], "https://a.example/cb")


# --- consent page helpers ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("http://127.0.0.1:5000/cb", True),
        ("http://127.9.8.7/cb", True),
        ("http://localhost/cb", True),
        ("HTTP://LocalHost:3000/cb", True),
        ("http://[::1]:3000/cb", True),
        ("https://localhost/cb", True),
        ("https://example.com/cb", False),
        ("http://127.1/cb", False),
        ("http://127.0.0.1@evil.com/cb", False),
        ("http://evil.com@127.0.0.1/cb", False),
        ("http://localhost.evil.com/cb", False),
        ("com.example.app:/cb", False),
        ("com.example.app://localhost/cb", False),
        ("not a uri", False),
        ("", False),
    ],
)
def test_is_loopback_redirect_uri(uri: str, expected: bool) -> None:
    assert is_loopback_redirect_uri(uri) is expected


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("https://example.com/cb", "example.com"),
        ("HTTPS://Example.COM:8443/cb?x=1", "example.com"),
        ("http://127.0.0.1:5000/cb", "127.0.0.1"),
        ("http://[::1]:5000/cb", "[::1]"),
        ("com.example.app:/cb", "com.example.app"),
        ("COM.Example.App://host/cb", "com.example.app"),
    ],
)
def test_redirect_host(uri: str, expected: str) -> None:
    assert redirect_host(uri) == expected


@pytest.mark.parametrize("uri", ["", "/cb", "https:///cb", "http:/cb"])
def test_redirect_host_refuses_uris_without_a_host(uri: str) -> None:
    with pytest.raises(InvalidRedirectUriError):
        redirect_host(uri)


# --- properties -------------------------------------------------------------------------------------------------------

URI_ALPHABET = string.ascii_letters + string.digits + "-._~:/?#[]@!$&'()*+,;=%\\ \t\n\x00é\u202e"
LABELS = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
HOSTNAMES = st.lists(LABELS, min_size=1, max_size=4).map(".".join)
PATHS = st.lists(st.text(alphabet=string.ascii_letters + string.digits + "-._~%@!$&'()*+,;=:", max_size=8), max_size=4)
QUERIES = st.none() | st.text(alphabet=string.ascii_letters + string.digits + "-._~=&/?:@", max_size=12)
PORTS = st.none() | st.integers(min_value=1, max_value=65535)
LOOPBACK_HOSTS = st.sampled_from(["localhost", "127.0.0.1", "127.1.2.3", "[::1]", "LOCALHOST"])


def _assemble(scheme: str, host: str, port: int | None, segments: list[str], query: str | None) -> str:
    authority = host if port is None else f"{host}:{port}"
    path = "".join("/" + segment for segment in segments)
    return f"{scheme}://{authority}{path}" + ("" if query is None else f"?{query}")


HTTPS_CANDIDATES = st.builds(_assemble, st.sampled_from(["https", "HTTPS"]), HOSTNAMES, PORTS, PATHS, QUERIES)
LOOPBACK_CANDIDATES = st.builds(_assemble, st.just("http"), LOOPBACK_HOSTS, PORTS, PATHS, QUERIES)
CUSTOM_CANDIDATES = st.builds(lambda path: "com.example.app:/" + path, st.text(alphabet="abc/._-%", max_size=10))
CANDIDATES = HTTPS_CANDIDATES | LOOPBACK_CANDIDATES | CUSTOM_CANDIDATES


@given(st.text() | st.text(alphabet=URI_ALPHABET) | CANDIDATES | st.builds(str.__add__, CANDIDATES, st.text()))
@example("http://evil.com\\@127.0.0.1")
@example("http://[")
@example("https://[::1]:99999999999999999999/")
@example("com.example.app://[")
def test_validation_only_raises_oauth_errors(uri: str) -> None:
    try:
        assert validate_registered_redirect_uri(uri, allowed_custom_schemes=CUSTOM) == uri
    except OAuthError as error:
        assert isinstance(error, InvalidRedirectUriError)
        assert error.error == "invalid_redirect_uri"


@given(CANDIDATES)
def test_accepted_uri_matches_itself(uri: str) -> None:
    assume(_is_accepted(uri))
    assert check_redirect_uri_matches([uri], uri)


@given(HTTPS_CANDIDATES, st.data())
def test_single_character_mutation_of_https_uri_never_matches(uri: str, data: st.DataObject) -> None:
    assume(_is_accepted(uri))
    index = data.draw(st.integers(min_value=0, max_value=len(uri)), label="index")
    char = data.draw(st.characters() | st.sampled_from(URI_ALPHABET), label="char")
    operation = data.draw(st.sampled_from(["replace", "insert", "delete"]), label="operation")
    if operation == "insert":
        mutated = uri[:index] + char + uri[index:]
    elif operation == "delete":
        mutated = uri[:index] + uri[index + 1 :]
    else:
        mutated = uri[:index] + char + uri[index + 1 :]
    assert check_redirect_uri_matches([uri], mutated) is (mutated == uri)


@given(LOOPBACK_CANDIDATES, PORTS)
def test_accepted_http_loopback_uri_matches_on_any_port(uri: str, port: int | None) -> None:
    assume(_is_accepted(uri))
    scheme, rest = uri.split("://", 1)
    authority = re.split(r"[/?]", rest, maxsplit=1)[0]
    host = authority if authority.endswith("]") else authority.rsplit(":", 1)[0]
    new_authority = host if port is None else f"{host}:{port}"
    requested = f"{scheme}://{new_authority}{rest[len(authority) :]}"
    assert check_redirect_uri_matches([uri], requested)
    assert is_loopback_redirect_uri(uri)
