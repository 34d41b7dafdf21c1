"""/authorize validation (research §4.3 items 6 and 8, invariant 2): errors before the client and redirect URI are
validated stay on Deputy's page; later errors go to the validated redirect URI with state and iss."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from support import APP_REDIRECT, DEPUTY, RESOURCE, Env, pkce, query_of

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    "variant",
    [
        APP_REDIRECT + "/",
        "https://APP.example/callback",
        "https://app.example/Callback",
        "https://app.example/callback/extra",
        "https://app.example/callback?x=1",
        "https://app.example/callback#frag",
        "https://user@app.example/callback",
        "https://app.example:8443/callback",
        "http://app.example/callback",
        "https://app.example.attacker.example/callback",
        "https://attacker.example/callback",
        "javascript:alert(1)",
    ],
)
async def test_unregistered_redirect_uri_variant_gets_a_local_page(env: Env, variant: str) -> None:
    client = await env.register()
    _, challenge = pkce()
    async with env.browser() as browser:
        r = await browser.get(env.authorize_url(client["client_id"], challenge, redirect_uri=variant))
    assert r.status_code == 400
    assert "location" not in r.headers
    assert "not registered" in r.text


async def test_loopback_redirect_may_change_only_its_port(env: Env) -> None:
    client = await env.register(["http://127.0.0.1:33418/cb"])
    _, challenge = pkce()
    async with env.browser() as browser:
        ok = await browser.get(
            env.authorize_url(client["client_id"], challenge, redirect_uri="http://127.0.0.1:51000/cb")
        )
        path = await browser.get(
            env.authorize_url(client["client_id"], challenge, redirect_uri="http://127.0.0.1:51000/x")
        )
        host = await browser.get(
            env.authorize_url(client["client_id"], challenge, redirect_uri="http://localhost:33418/cb")
        )
    assert ok.status_code == 200 and 'name="flow_id"' in ok.text and "loopback-warning" in ok.text
    assert path.status_code == 400 and host.status_code == 400


async def test_unknown_client_gets_a_local_page(env: Env) -> None:
    _, challenge = pkce()
    async with env.browser() as browser:
        r = await browser.get(env.authorize_url("dcl_unknown", challenge))
        missing = await browser.get("/authorize?response_type=code")
    assert r.status_code == 400 and "location" not in r.headers
    assert missing.status_code == 400 and "location" not in missing.headers


async def test_repeated_parameter_gets_a_local_page(env: Env) -> None:
    client = await env.register()
    _, challenge = pkce()
    async with env.browser() as browser:
        r = await browser.get(
            env.authorize_url(client["client_id"], challenge) + "&redirect_uri=https%3A%2F%2Fx.example"
        )
    assert r.status_code == 400 and "location" not in r.headers


def _redirect_error(r: object) -> dict[str, str]:
    from httpx import Response

    assert isinstance(r, Response) and r.status_code == 302, getattr(r, "text", r)
    location = r.headers["location"]
    assert location.startswith(APP_REDIRECT + "?")
    return query_of(location)


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"code_challenge": None}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge_method": None}, "invalid_request"),
        ({"code_challenge": "short"}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"resource": "https://other.example/mcp"}, "invalid_target"),
        ({"resource": RESOURCE + "#x"}, "invalid_target"),
        ({"scope": "crm.admin"}, "invalid_scope"),
    ],
)
async def test_invalid_request_is_redirected_with_state_and_iss(
    env: Env, change: dict[str, str | None], error: str
) -> None:
    client = await env.register()
    _, challenge = pkce()
    params = {
        "response_type": "code",
        "client_id": client["client_id"],
        "redirect_uri": APP_REDIRECT,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "state": "st",
        "resource": RESOURCE,
    }
    for key, value in change.items():
        if value is None:
            params.pop(key)
        else:
            params[key] = value
    async with env.browser() as browser:
        r = await browser.get("/authorize?" + urlencode(params))
    q = _redirect_error(r)
    assert q["error"] == error and q["state"] == "st" and q["iss"] == DEPUTY
    with env.ctx.store.read() as tx:  # the refusal is in the audit log (committed before the redirect)
        refusals = tx.audit.events("authorize.refused")
        flows = tx.conn.exec_driver_sql("SELECT count(*) FROM flows").scalar_one()
    assert [(e["client_id"], e["detail"]["error"]) for e in refusals] == [(client["client_id"], error)]
    assert flows == 0  # and nothing else was written


async def test_resource_is_accepted_with_uppercase_scheme_and_host(env: Env) -> None:
    client = await env.register()
    _, challenge = pkce()
    async with env.browser() as browser:
        r = await browser.get(env.authorize_url(client["client_id"], challenge, resource="HTTPS://DEPUTY.EXAMPLE/mcp"))
    assert r.status_code == 200 and 'name="flow_id"' in r.text


async def test_consent_page_shows_exact_upstream_scopes_and_warnings(env: Env) -> None:
    client = await env.register()
    _, challenge = pkce()
    async with env.browser() as browser:
        r = await browser.get(env.authorize_url(client["client_id"], challenge, scope="crm.read crm.write"))
    for scope in ("profile", "contacts:read", "deals:read", "contacts:write"):
        assert f"<code>{scope}</code>" in r.text
    assert "unverified-warning" in r.text
    assert "app.example" in r.text and client["client_id"] in r.text
