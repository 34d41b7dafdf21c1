"""The browser leg of Acme's authorization flow: login, consent, the consent cookie and error pages."""

from __future__ import annotations

import re

import httpx
import pytest
from acme_flow import (
    ALICE,
    ALL_SCOPES,
    BOB,
    CALLBACK,
    CLIENT_ID,
    ISSUER,
    authorize_code,
    authorize_params,
    decide,
    hidden_field,
    is_consent_page,
    is_login_page,
    log_in,
    make_pkce,
    new_browser,
    redirect_params,
)
from starlette.applications import Starlette

from deputy.clock import FrozenClock
from deputy.demo.acme import AcmeClient, AcmeSettings, AcmeStats, AcmeStore, create_acme_app, default_settings

pytestmark = pytest.mark.anyio


def _cookie_header(response: httpx.Response, name: str) -> str:
    headers = [value for value in response.headers.get_list("set-cookie") if value.startswith(f"{name}=")]
    assert len(headers) == 1, response.headers.get_list("set-cookie")
    return headers[0]


async def test_first_authorization_shows_login_then_consent_then_redirects(
    client: httpx.AsyncClient, stats: AcmeStats
) -> None:
    login_page = await client.get("/authorize", params=authorize_params())
    assert is_login_page(login_page)
    assert "Deputy (Acme CRM connector)" in login_page.text
    consent_page = await log_in(client, login_page)
    assert is_consent_page(consent_page)
    assert "Alice Example" in consent_page.text
    assert "contacts:write" in consent_page.text
    params = redirect_params(await decide(client, consent_page))
    assert params["code"].startswith("acme_ac_")
    assert params["state"] == "st-123"
    assert params["iss"] == ISSUER
    assert (stats.login_pages_shown, stats.consent_pages_shown, stats.codes_issued) == (1, 1, 1)


async def test_login_sets_httponly_lax_session_cookie(client: httpx.AsyncClient) -> None:
    login_page = await client.get("/authorize", params=authorize_params())
    form = {"username": "alice", "password": "alice-password", "return_to": hidden_field(login_page.text, "return_to")}
    response = await client.post("/login", data=form)
    assert response.status_code == 303
    assert response.headers["location"].startswith(f"{ISSUER}/authorize?")
    cookie = _cookie_header(response, "acme_session").lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/" in cookie
    assert "secure" not in cookie and "max-age" not in cookie


async def test_approval_sets_long_lived_consent_cookie(client: httpx.AsyncClient, settings: AcmeSettings) -> None:
    consent_page = await log_in(client, await client.get("/authorize", params=authorize_params()))
    response = await decide(client, consent_page)
    cookie = _cookie_header(response, "acme_consent").lower()
    assert f"max-age={settings.consent_cookie_max_age}" in cookie
    assert "httponly" in cookie and "samesite=lax" in cookie


async def test_second_authorization_with_consent_cookie_skips_consent(
    client: httpx.AsyncClient, stats: AcmeStats
) -> None:
    await authorize_code(client)
    response = await client.get("/authorize", params=authorize_params(state="second"))
    assert response.status_code == 302
    params = redirect_params(response)
    assert params["state"] == "second" and params["code"].startswith("acme_ac_")
    assert (stats.consent_pages_shown, stats.consent_skipped, stats.codes_issued) == (1, 1, 2)


async def test_consent_cookie_skip_also_applies_to_a_subset_of_scopes(client: httpx.AsyncClient) -> None:
    await authorize_code(client)
    response = await client.get("/authorize", params=authorize_params(scope="contacts:read"))
    assert redirect_params(response)["code"]


async def test_new_scopes_need_consent_again_despite_cookie(client: httpx.AsyncClient) -> None:
    await authorize_code(client, scope="contacts:read")
    response = await client.get("/authorize", params=authorize_params(scope="contacts:read contacts:write"))
    assert is_consent_page(response)


async def test_consent_without_the_cookie_is_asked_again(app: Starlette, client: httpx.AsyncClient) -> None:
    await authorize_code(client)
    async with new_browser(app) as other_browser:
        response = await other_browser.get("/authorize", params=authorize_params())
        assert is_consent_page(await log_in(other_browser, response))


async def test_consent_cookie_does_not_carry_over_to_another_user(client: httpx.AsyncClient) -> None:
    await authorize_code(client, ALICE)
    await client.post("/logout")
    response = await log_in(client, await client.get("/authorize", params=authorize_params()), BOB)
    assert is_consent_page(response)
    assert "Bob Example" in response.text


async def test_deny_redirects_with_access_denied(client: httpx.AsyncClient, stats: AcmeStats) -> None:
    consent_page = await log_in(client, await client.get("/authorize", params=authorize_params()))
    params = redirect_params(await decide(client, consent_page, "deny"))
    assert params["error"] == "access_denied"
    assert params["state"] == "st-123" and params["iss"] == ISSUER
    assert "code" not in params and stats.codes_issued == 0


async def test_denial_is_not_remembered(client: httpx.AsyncClient) -> None:
    consent_page = await log_in(client, await client.get("/authorize", params=authorize_params()))
    await decide(client, consent_page, "deny")
    assert is_consent_page(await client.get("/authorize", params=authorize_params()))


@pytest.mark.parametrize("state", ["a b&c=d", "ünïcødé ✓", "x" * 1000, "%2F%00", "<script>"])
async def test_state_comes_back_verbatim(client: httpx.AsyncClient, state: str) -> None:
    params = await authorize_code(client, state=state)
    assert params["state"] == state


async def test_missing_state_is_allowed_and_omitted(client: httpx.AsyncClient) -> None:
    params = await authorize_code(client, state="")
    assert "state" not in params


async def test_registered_redirect_uri_query_is_kept(clock: FrozenClock) -> None:
    registered = "http://localhost:8000/cb?tenant=7"
    settings = default_settings(ISSUER, registered)
    async with new_browser(create_acme_app(settings, clock=clock)) as browser:
        params = authorize_params(redirect_uri=registered)
        response = await log_in(browser, await browser.get("/authorize", params=params))
        location = (await decide(browser, response)).headers["location"]
    assert location.startswith("http://localhost:8000/cb?tenant=7&code=acme_ac_")


# --- errors that must not redirect ------------------------------------------------------------------------------

UNTRUSTED = [
    {"client_id": "evil-client"},
    {"client_id": ""},
    {"redirect_uri": "http://attacker.example/callback"},
    {"redirect_uri": CALLBACK + "/extra"},
    {"redirect_uri": CALLBACK + "?x=1"},
    {"redirect_uri": CALLBACK.replace("8000", "8001")},
    {"redirect_uri": CALLBACK.upper()},
    {"redirect_uri": ""},
]


@pytest.mark.parametrize("override", UNTRUSTED)
async def test_untrusted_client_or_redirect_uri_shows_error_page(
    client: httpx.AsyncClient, override: dict[str, str]
) -> None:
    response = await client.get("/authorize", params={**authorize_params(), **override})
    assert response.status_code == 400
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")
    assert "cannot be used" in response.text


async def test_error_page_even_when_logged_in(client: httpx.AsyncClient) -> None:
    await authorize_code(client)
    response = await client.get("/authorize", params=authorize_params(redirect_uri="http://attacker.example/cb"))
    assert response.status_code == 400 and "location" not in response.headers


async def test_repeated_client_id_is_not_trusted(client: httpx.AsyncClient) -> None:
    query = httpx.QueryParams(authorize_params()).add("client_id", CLIENT_ID)
    response = await client.get("/authorize", params=query)
    assert response.status_code == 400 and "location" not in response.headers


async def test_missing_parameters_show_error_page(client: httpx.AsyncClient) -> None:
    response = await client.get("/authorize")
    assert response.status_code == 400 and "location" not in response.headers


# --- errors that redirect ----------------------------------------------------------------------------------------

REDIRECTED = [
    ({"response_type": "token"}, "unsupported_response_type"),
    ({"response_type": ""}, "invalid_request"),
    ({"scope": "profile admin"}, "invalid_scope"),
    ({"scope": "contacts:delete"}, "invalid_scope"),
    ({"code_challenge_method": "S256"}, "invalid_request"),
    ({"code_challenge": make_pkce()[1], "code_challenge_method": "plain"}, "invalid_request"),
    ({"code_challenge": make_pkce()[1]}, "invalid_request"),
    ({"code_challenge": "too-short", "code_challenge_method": "S256"}, "invalid_request"),
]


@pytest.mark.parametrize(("override", "error"), REDIRECTED)
async def test_invalid_requests_redirect_with_error(
    client: httpx.AsyncClient, override: dict[str, str], error: str, stats: AcmeStats
) -> None:
    response = await client.get("/authorize", params={**authorize_params(), **override})
    params = redirect_params(response)
    assert params["error"] == error
    assert params["error_description"]
    assert params["state"] == "st-123" and params["iss"] == ISSUER
    assert stats.login_pages_shown == 0


async def test_repeated_scope_is_invalid_request(client: httpx.AsyncClient) -> None:
    query = httpx.QueryParams(authorize_params()).add("scope", "profile")
    assert redirect_params(await client.get("/authorize", params=query))["error"] == "invalid_request"


async def test_missing_scope_defaults_to_profile(client: httpx.AsyncClient) -> None:
    params = authorize_params()
    del params["scope"]
    page = await log_in(client, await client.get("/authorize", params=params))
    assert is_consent_page(page)
    assert re.findall(r'<span class="scope">([^<]+)</span>', page.text) == ["profile"]


async def test_require_pkce_refuses_authorization_without_challenge(settings: AcmeSettings) -> None:
    strict = AcmeSettings(settings.issuer, settings.clients, settings.users, require_pkce=True)
    async with new_browser(create_acme_app(strict)) as browser:
        params = redirect_params(await browser.get("/authorize", params=authorize_params()))
        assert params["error"] == "invalid_request" and "code_challenge" in params["error_description"]
        _, challenge = make_pkce()
        with_pkce = authorize_params(code_challenge=challenge, code_challenge_method="S256")
        assert is_login_page(await browser.get("/authorize", params=with_pkce))


# --- login -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("username", "password"), [("alice", "wrong"), ("mallory", "alice-password"), ("", "")])
async def test_bad_credentials_rerender_login(client: httpx.AsyncClient, username: str, password: str) -> None:
    login_page = await client.get("/authorize", params=authorize_params())
    form = {"username": username, "password": password, "return_to": hidden_field(login_page.text, "return_to")}
    response = await client.post("/login", data=form)
    assert response.status_code == 401
    assert "Incorrect username or password" in response.text
    assert hidden_field(response.text, "return_to") == hidden_field(login_page.text, "return_to")
    assert "acme_session" not in response.headers.get("set-cookie", "")


async def test_login_replaces_an_existing_session(client: httpx.AsyncClient, store: AcmeStore) -> None:
    await authorize_code(client)
    old = client.cookies["acme_session"]
    form = {"username": "bob", "password": "bob-password", "return_to": str(httpx.QueryParams(authorize_params()))}
    response = await client.post("/login", data=form)
    assert response.status_code == 303
    assert client.cookies["acme_session"] != old
    assert store.session(old) is None


async def test_login_with_malformed_return_to_is_an_error_page(client: httpx.AsyncClient) -> None:
    form = {"username": "alice", "password": "alice-password", "return_to": "%ff%fe"}
    response = await client.post("/login", data=form)
    assert response.status_code == 400 and "location" not in response.headers


async def test_login_can_only_return_to_authorize(client: httpx.AsyncClient) -> None:
    form = {"username": "alice", "password": "alice-password", "return_to": "x=1#@evil.example/"}
    response = await client.post("/login", data=form)
    assert response.headers["location"] == f"{ISSUER}/authorize?x=1%23%40evil.example%2F"


async def test_logout_ends_the_session(client: httpx.AsyncClient, store: AcmeStore) -> None:
    await authorize_code(client)
    session_id = client.cookies["acme_session"]
    response = await client.post("/logout")
    assert response.status_code == 200 and store.session(session_id) is None
    assert is_login_page(await client.get("/authorize", params=authorize_params()))


async def test_session_expires_after_a_day(client: httpx.AsyncClient, clock: FrozenClock) -> None:
    await authorize_code(client)
    clock.advance(24 * 3600 + 1)
    assert is_login_page(await client.get("/authorize", params=authorize_params()))


# --- consent form integrity --------------------------------------------------------------------------------------


async def test_consent_with_wrong_csrf_token_is_refused(client: httpx.AsyncClient, stats: AcmeStats) -> None:
    consent_page = await log_in(client, await client.get("/authorize", params=authorize_params()))
    form = {"csrf_token": "forged", "request": hidden_field(consent_page.text, "request"), "decision": "approve"}
    response = await client.post("/consent", data=form)
    assert response.status_code == 400 and "location" not in response.headers
    assert stats.codes_issued == 0


async def test_csrf_token_from_another_session_is_refused(app: Starlette, client: httpx.AsyncClient) -> None:
    alice_page = await log_in(client, await client.get("/authorize", params=authorize_params()))
    async with new_browser(app) as bob_browser:
        bob_page = await log_in(bob_browser, await bob_browser.get("/authorize", params=authorize_params()), BOB)
        form = {
            "csrf_token": hidden_field(alice_page.text, "csrf_token"),
            "request": hidden_field(bob_page.text, "request"),
            "decision": "approve",
        }
        response = await bob_browser.post("/consent", data=form)
    assert response.status_code == 400


async def test_consent_without_session_is_refused(app: Starlette, client: httpx.AsyncClient) -> None:
    consent_page = await log_in(client, await client.get("/authorize", params=authorize_params()))
    async with new_browser(app) as stranger:
        response = await decide(stranger, consent_page)
    assert response.status_code == 400 and "location" not in response.headers


async def test_tampered_consent_request_is_validated_again(client: httpx.AsyncClient) -> None:
    consent_page = await log_in(client, await client.get("/authorize", params=authorize_params()))
    tampered = str(httpx.QueryParams(authorize_params(redirect_uri="http://attacker.example/cb")))
    form = {"csrf_token": hidden_field(consent_page.text, "csrf_token"), "request": tampered, "decision": "approve"}
    response = await client.post("/consent", data=form)
    assert response.status_code == 400 and "location" not in response.headers


async def test_consent_needs_a_decision(client: httpx.AsyncClient) -> None:
    consent_page = await log_in(client, await client.get("/authorize", params=authorize_params()))
    response = await decide(client, consent_page, "maybe")
    assert response.status_code == 400 and "location" not in response.headers


# --- HTML hygiene ------------------------------------------------------------------------------------------------


async def test_pages_are_unframeable_and_script_free(client: httpx.AsyncClient) -> None:
    login_page = await client.get("/authorize", params=authorize_params())
    consent_page = await log_in(client, login_page)
    error_page = await client.get("/authorize", params={"client_id": "nope"})
    for page in (login_page, consent_page, error_page):
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert "script-src" not in page.headers["content-security-policy"]
        assert page.headers["x-frame-options"] == "DENY"
        assert page.headers["cache-control"] == "no-store"
        assert "<script" not in page.text.lower()


async def test_untrusted_text_is_escaped(clock: FrozenClock) -> None:
    evil = AcmeClient("evil", "s3cret", (CALLBACK,), '<img src=x onerror="alert(1)">')
    base = default_settings(ISSUER, CALLBACK)
    settings = AcmeSettings(ISSUER, (evil,), base.users)
    async with new_browser(create_acme_app(settings, clock=clock)) as browser:
        params = authorize_params(client_id="evil", state='"><script>alert(1)</script>')
        login_page = await browser.get("/authorize", params=params)
        consent_page = await log_in(browser, login_page)
    for page in (login_page, consent_page):
        assert "<img" not in page.text and "<script>" not in page.text
        assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in page.text


async def test_all_scopes_are_listed_with_descriptions(client: httpx.AsyncClient) -> None:
    page = await log_in(client, await client.get("/authorize", params=authorize_params()))
    assert re.findall(r'<span class="scope">([^<]+)</span>', page.text) == ALL_SCOPES.split()
    assert "Create and change your deals" in page.text
    assert "http://localhost:8000" in page.text
