"""Header parsers and URL rules the checks rely on."""

from __future__ import annotations

import pytest

from deputy.scanner.httpparse import cache_directives, csp_directives, parse_set_cookie, parse_www_authenticate
from deputy.scanner.urls import (
    HostPolicy,
    as_metadata_urls,
    authority,
    canonical_url,
    is_loopback_host,
    is_secure_url,
    prm_urls,
    redirect_variants,
)


def test_www_authenticate_bearer_params() -> None:
    (c,) = parse_www_authenticate(['Bearer resource_metadata="https://x/.well-known/p", scope="a b"'])
    assert c.scheme == "Bearer"
    assert c.param("resource_metadata") == "https://x/.well-known/p"
    assert c.param("SCOPE") == "a b"


def test_www_authenticate_several_challenges_and_escapes() -> None:
    value = 'Basic realm="x, y", Bearer error="invalid_token", error_description="say \\"no\\"", DPoP algs="ES256"'
    challenges = parse_www_authenticate([value])
    assert [c.scheme for c in challenges] == ["Basic", "Bearer", "DPoP"]
    assert challenges[0].param("realm") == "x, y"
    assert challenges[1].param("error_description") == 'say "no"'
    assert challenges[2].param("algs") == "ES256"


def test_www_authenticate_token68_unquoted_and_multiple_headers() -> None:
    challenges = parse_www_authenticate(["Negotiate abc123==", "Bearer realm=mcp"])
    assert challenges[0].token68 == "abc123=="
    assert challenges[1].param("realm") == "mcp"


@pytest.mark.parametrize("junk", ["", ",,,", '"unterminated', "Bearer ,", "=x", 'Bearer a="b'])
def test_www_authenticate_never_raises(junk: str) -> None:
    parse_www_authenticate([junk])


def test_set_cookie_keeps_attributes_not_values() -> None:
    cookie = parse_set_cookie("__Host-s=secret; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=60")
    assert cookie.name == "__Host-s"
    assert cookie.has("secure") and cookie.has("HttpOnly")
    assert cookie.get("samesite") == "Lax"
    assert "secret" not in repr(cookie)
    assert parse_set_cookie("x=; Max-Age=0").is_deletion


def test_csp_and_cache_control() -> None:
    csp = csp_directives(("default-src 'none'; Frame-Ancestors 'NONE'",))
    assert csp["frame-ancestors"] == ("'none'",)
    assert cache_directives(("private, No-Store", "max-age=0")) == {"private", "no-store", "max-age"}


def test_canonical_url() -> None:
    assert canonical_url("HTTPS://MCP.Example.com:443/mcp/") == "https://mcp.example.com/mcp"
    assert canonical_url("http://127.0.0.1:8000/mcp#frag") == "http://127.0.0.1:8000/mcp"
    assert canonical_url("https://mcp.example.com/") == "https://mcp.example.com"


def test_prm_urls_path_inserted_then_root() -> None:
    assert prm_urls("https://x.example/tenant/mcp") == (
        ("path-inserted", "https://x.example/.well-known/oauth-protected-resource/tenant/mcp"),
        ("root", "https://x.example/.well-known/oauth-protected-resource"),
    )
    assert prm_urls("https://x.example/") == (("root", "https://x.example/.well-known/oauth-protected-resource"),)


def test_as_metadata_urls_path_insert_then_oidc() -> None:
    assert as_metadata_urls("https://as.example/tenant1") == (
        "https://as.example/.well-known/oauth-authorization-server/tenant1",
        "https://as.example/.well-known/openid-configuration/tenant1",
        "https://as.example/tenant1/.well-known/openid-configuration",
    )
    assert as_metadata_urls("https://as.example") == (
        "https://as.example/.well-known/oauth-authorization-server",
        "https://as.example/.well-known/openid-configuration",
    )


def test_loopback_and_secure() -> None:
    for host in ("localhost", "127.0.0.1", "127.9.9.9", "[::1]", "::1", "app.localhost"):
        assert is_loopback_host(host), host
    for other in ("example.com", "10.0.0.1", "localhost.example.com", None):
        assert not is_loopback_host(other), other
    assert is_secure_url("https://example.com/x")
    assert is_secure_url("http://127.0.0.1:9/x")
    assert not is_secure_url("http://example.com/x")
    assert not is_secure_url("ftp://127.0.0.1/x")


def test_authority_uses_the_effective_port() -> None:
    assert authority("https://Example.com/x") == "example.com:443"
    assert authority("http://127.0.0.1:8000") == "127.0.0.1:8000"
    assert authority("http://[::1]:9/") == "[::1]:9"


def test_host_policy() -> None:
    policy = HostPolicy().with_url("http://127.0.0.1:8000/mcp")
    assert policy.allows("http://127.0.0.1:8000/other")
    assert not policy.allows("http://127.0.0.1:8001/")
    assert not policy.allows("http://localhost:8000/")
    assert not policy.allows("javascript:alert(1)")
    wide = policy.union(HostPolicy.parse_allow("localhost"))
    assert wide.allows("http://localhost:1234/")
    assert policy.union(HostPolicy.parse_allow("as.example:8443")).allows("https://as.example:8443/x")
    with pytest.raises(ValueError, match="host"):
        HostPolicy.parse_allow("as.example:https")


def test_redirect_variants_loopback_and_remote() -> None:
    loopback = dict(redirect_variants("http://127.0.0.1:5000/callback"))
    assert loopback == {
        "trailing-slash": "http://127.0.0.1:5000/callback/",
        "extra-path": "http://127.0.0.1:5000/callback/deputy-scan",
        "extra-query": "http://127.0.0.1:5000/callback?deputy_scan=1",
        "userinfo": "http://deputy-scan@127.0.0.1:5000/callback",
        "scheme": "https://127.0.0.1:5000/callback",
        "case": "http://127.0.0.1:5000/CALLBACK",
    }
    remote = dict(redirect_variants("https://a.example/cb"))
    assert remote["port"] == "https://a.example:8443/cb"
    assert remote["scheme"] == "http://a.example/cb"
