"""The token and revocation endpoints: client authentication, code exchange, PKCE and refresh rotation."""

from __future__ import annotations

import httpx
import pytest
from acme_flow import (
    ALICE_ID,
    CALLBACK,
    CLIENT_ID,
    CLIENT_SECRET,
    ISSUER,
    Tokens,
    authorize_code,
    exchange,
    make_pkce,
    new_browser,
    obtain_tokens,
    token_request,
)
from starlette.applications import Starlette

from deputy.clock import FrozenClock
from deputy.demo.acme import AcmeClient, AcmeSettings, AcmeStats, AcmeStore, create_acme_app

pytestmark = pytest.mark.anyio


async def _userinfo_status(client: httpx.AsyncClient, access_token: str) -> int:
    response = await client.get("/userinfo", headers={"Authorization": f"Bearer {access_token}"})
    return response.status_code


def _error(response: httpx.Response, status: int = 400) -> str:
    assert response.status_code == status, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["error_description"]
    return str(body["error"])


async def _refresh(client: httpx.AsyncClient, refresh_token: str, **extra: str) -> httpx.Response:
    return await token_request(client, {"grant_type": "refresh_token", "refresh_token": refresh_token, **extra})


# --- authorization_code grant ------------------------------------------------------------------------------------


async def test_code_exchange_returns_bearer_tokens(client: httpx.AsyncClient, stats: AcmeStats) -> None:
    code = (await authorize_code(client, scope="profile contacts:read"))["code"]
    response = await exchange(client, code)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token", "scope"}
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert body["access_token"].startswith("acme_at_") and body["refresh_token"].startswith("acme_rt_")
    assert body["scope"] == "profile contacts:read"
    assert stats.token_requests["authorization_code"] == 1


async def test_client_secret_post_is_accepted(client: httpx.AsyncClient) -> None:
    code = (await authorize_code(client))["code"]
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK}
    response = await token_request(client, form, basic=False)
    assert response.status_code == 200


async def test_code_can_be_used_only_once_and_replay_revokes_its_tokens(client: httpx.AsyncClient) -> None:
    code = (await authorize_code(client))["code"]
    first = Tokens((await exchange(client, code)).json())
    assert _error(await exchange(client, code)) == "invalid_grant"
    assert await _userinfo_status(client, first.access) == 401
    assert _error(await _refresh(client, first.refresh)) == "invalid_grant"


async def test_code_expires_after_sixty_seconds(client: httpx.AsyncClient, clock: FrozenClock) -> None:
    code = (await authorize_code(client))["code"]
    clock.advance(60)
    assert _error(await exchange(client, code)) == "invalid_grant"


async def test_code_is_accepted_just_before_expiry(client: httpx.AsyncClient, clock: FrozenClock) -> None:
    code = (await authorize_code(client))["code"]
    clock.advance(59)
    assert (await exchange(client, code)).status_code == 200


@pytest.mark.parametrize("redirect_uri", [None, "", CALLBACK + "/", "http://attacker.example/cb"])
async def test_redirect_uri_must_match(client: httpx.AsyncClient, redirect_uri: str | None) -> None:
    code = (await authorize_code(client))["code"]
    form = {"grant_type": "authorization_code", "code": code}
    if redirect_uri is not None:
        form["redirect_uri"] = redirect_uri
    assert _error(await token_request(client, form)) == "invalid_grant"


async def test_code_is_bound_to_its_client(settings: AcmeSettings, clock: FrozenClock) -> None:
    other = AcmeClient("other", "other-secret", (CALLBACK,), "Other app")
    two_clients = AcmeSettings(ISSUER, (*settings.clients, other), settings.users)
    async with new_browser(create_acme_app(two_clients, clock=clock)) as browser:
        code = (await authorize_code(browser))["code"]
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK}
        response = await browser.post("/token", data=form, auth=("other", "other-secret"))
        assert _error(response) == "invalid_grant"
        assert _error(await exchange(browser, code)) == "invalid_grant"


@pytest.mark.parametrize("code", ["", "acme_ac_unknown", "x" * 5000])
async def test_unknown_code_is_invalid(client: httpx.AsyncClient, code: str) -> None:
    error = _error(await exchange(client, code))
    assert error == ("invalid_request" if not code else "invalid_grant")


# --- PKCE --------------------------------------------------------------------------------------------------------


async def test_pkce_with_right_verifier(client: httpx.AsyncClient) -> None:
    verifier, challenge = make_pkce()
    code = (await authorize_code(client, code_challenge=challenge, code_challenge_method="S256"))["code"]
    assert (await exchange(client, code, code_verifier=verifier)).status_code == 200


@pytest.mark.parametrize("verifier", [make_pkce()[0], "short", "a" * 129, "bad chars ! " * 5])
async def test_pkce_with_wrong_verifier(client: httpx.AsyncClient, verifier: str) -> None:
    _, challenge = make_pkce()
    code = (await authorize_code(client, code_challenge=challenge, code_challenge_method="S256"))["code"]
    assert _error(await exchange(client, code, code_verifier=verifier)) == "invalid_grant"


async def test_pkce_with_missing_verifier(client: httpx.AsyncClient) -> None:
    _, challenge = make_pkce()
    code = (await authorize_code(client, code_challenge=challenge, code_challenge_method="S256"))["code"]
    assert _error(await exchange(client, code)) == "invalid_grant"


async def test_pkce_downgrade_verifier_without_challenge_is_refused(client: httpx.AsyncClient) -> None:
    code = (await authorize_code(client))["code"]
    verifier, _ = make_pkce()
    assert _error(await exchange(client, code, code_verifier=verifier)) == "invalid_grant"


async def test_failed_pkce_burns_the_code(client: httpx.AsyncClient) -> None:
    verifier, challenge = make_pkce()
    code = (await authorize_code(client, code_challenge=challenge, code_challenge_method="S256"))["code"]
    await exchange(client, code, code_verifier=make_pkce()[0])
    assert _error(await exchange(client, code, code_verifier=verifier)) == "invalid_grant"


# --- client authentication ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "auth",
    [(CLIENT_ID, "wrong"), ("nobody", CLIENT_SECRET), (CLIENT_ID, ""), ("", "")],
)
async def test_bad_basic_credentials_are_invalid_client(client: httpx.AsyncClient, auth: tuple[str, str]) -> None:
    code = (await authorize_code(client))["code"]
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK}
    response = await client.post("/token", data=form, auth=auth)
    assert _error(response, 401) == "invalid_client"
    assert response.headers["www-authenticate"].startswith("Basic")
    assert (await exchange(client, code)).status_code == 200, "a failed client must not burn the code"


@pytest.mark.parametrize("header", ["Basic !!!", "Basic " + "bm9jb2xvbg==", "Bearer abc", "Basic", "Basic //79/w=="])
async def test_malformed_authorization_header_is_invalid_client(client: httpx.AsyncClient, header: str) -> None:
    response = await client.post("/token", data={"grant_type": "refresh_token"}, headers={"Authorization": header})
    assert _error(response, 401) == "invalid_client"


async def test_missing_client_authentication_is_invalid_client(client: httpx.AsyncClient) -> None:
    form = {"grant_type": "refresh_token", "refresh_token": "x", "client_id": CLIENT_ID}
    assert _error(await client.post("/token", data=form), 401) == "invalid_client"


async def test_two_authentication_methods_are_refused(client: httpx.AsyncClient) -> None:
    form = {"grant_type": "refresh_token", "refresh_token": "x", "client_secret": CLIENT_SECRET}
    response = await client.post("/token", data=form, auth=(CLIENT_ID, CLIENT_SECRET))
    assert _error(response) == "invalid_request"


async def test_body_client_id_must_match_basic(client: httpx.AsyncClient) -> None:
    form = {"grant_type": "refresh_token", "refresh_token": "x", "client_id": "someone-else"}
    response = await client.post("/token", data=form, auth=(CLIENT_ID, CLIENT_SECRET))
    assert _error(response) == "invalid_request"


async def test_url_encoded_basic_credentials_are_decoded(settings: AcmeSettings) -> None:
    odd = AcmeClient("odd:client", "p@ss word", (CALLBACK,), "Odd")
    app = create_acme_app(AcmeSettings(ISSUER, (odd,), settings.users))
    async with new_browser(app) as browser:
        response = await browser.post(
            "/token", data={"grant_type": "refresh_token", "refresh_token": "x"}, auth=("odd%3Aclient", "p%40ss+word")
        )
    assert _error(response) == "invalid_grant"


# --- request shape -----------------------------------------------------------------------------------------------


async def test_grant_type_problems(client: httpx.AsyncClient, stats: AcmeStats) -> None:
    assert _error(await token_request(client, {"grant_type": ""})) == "invalid_request"
    assert _error(await token_request(client, {"grant_type": "password"})) == "unsupported_grant_type"
    assert _error(await token_request(client, {"grant_type": "client_credentials"})) == "unsupported_grant_type"
    assert stats.token_requests["other"] == 3


async def test_json_body_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post("/token", json={"grant_type": "refresh_token"}, auth=(CLIENT_ID, CLIENT_SECRET))
    assert _error(response) == "invalid_request"


async def test_repeated_parameter_is_refused(client: httpx.AsyncClient) -> None:
    body = "grant_type=refresh_token&refresh_token=a&refresh_token=b"
    headers = {"content-type": "application/x-www-form-urlencoded"}
    response = await client.post("/token", content=body, headers=headers, auth=(CLIENT_ID, CLIENT_SECRET))
    assert _error(response) == "invalid_request"


@pytest.mark.parametrize("body", [b"grant_type=%ff", b"\xff\xfe", b"a=" + b"b" * 9000, b"&".join([b"a=1"] * 40)])
async def test_malformed_form_is_invalid_request(client: httpx.AsyncClient, body: bytes) -> None:
    headers = {"content-type": "application/x-www-form-urlencoded"}
    response = await client.post("/token", content=body, headers=headers, auth=(CLIENT_ID, CLIENT_SECRET))
    assert _error(response) == "invalid_request"


async def test_get_is_not_allowed(client: httpx.AsyncClient) -> None:
    response = await client.get("/token")
    assert response.status_code == 405 and response.json()["error"] == "method_not_allowed"


# --- refresh_token grant -----------------------------------------------------------------------------------------


async def test_refresh_rotates_tokens(app: Starlette, client: httpx.AsyncClient, stats: AcmeStats) -> None:
    tokens = await obtain_tokens(app)
    response = await _refresh(client, tokens.refresh)
    assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
    renewed = Tokens(response.json())
    assert renewed.refresh != tokens.refresh and renewed.access != tokens.access
    assert renewed.refresh.startswith("acme_rt_") and renewed.body["scope"] == tokens.body["scope"]
    assert (stats.refreshes, stats.token_requests["refresh_token"]) == (1, 1)
    assert await _userinfo_status(client, renewed.access) == 200
    assert await _userinfo_status(client, tokens.access) == 200, "rotation does not revoke live access tokens"


async def test_reusing_a_rotated_refresh_token_revokes_the_grant(app: Starlette, client: httpx.AsyncClient) -> None:
    tokens = await obtain_tokens(app)
    renewed = Tokens((await _refresh(client, tokens.refresh)).json())
    assert _error(await _refresh(client, tokens.refresh)) == "invalid_grant"
    assert _error(await _refresh(client, renewed.refresh)) == "invalid_grant"
    assert await _userinfo_status(client, renewed.access) == 401


async def test_without_rotation_the_refresh_token_stays(settings: AcmeSettings, clock: FrozenClock) -> None:
    no_rotation = AcmeSettings(ISSUER, settings.clients, settings.users, refresh_token_rotation=False)
    app = create_acme_app(no_rotation, clock=clock)
    tokens = await obtain_tokens(app)
    async with new_browser(app) as client:
        first = Tokens((await _refresh(client, tokens.refresh)).json())
        second = Tokens((await _refresh(client, tokens.refresh)).json())
    assert first.refresh == second.refresh == tokens.refresh
    assert first.access != second.access


async def test_refresh_can_narrow_but_not_widen_scope(app: Starlette, client: httpx.AsyncClient) -> None:
    tokens = await obtain_tokens(app, scope="profile contacts:read")
    narrowed = await _refresh(client, tokens.refresh, scope="contacts:read")
    assert narrowed.json()["scope"] == "contacts:read"
    renewed = Tokens(narrowed.json())
    assert _error(await _refresh(client, renewed.refresh, scope="contacts:write")) == "invalid_scope"
    assert _error(await _refresh(client, renewed.refresh, scope="admin")) == "invalid_scope"
    assert (await _refresh(client, renewed.refresh)).json()["scope"] == "profile contacts:read"


async def test_refresh_token_is_bound_to_its_client(settings: AcmeSettings) -> None:
    other = AcmeClient("other", "other-secret", (CALLBACK,), "Other app")
    two = AcmeSettings(ISSUER, (*settings.clients, other), settings.users)
    app = create_acme_app(two)
    tokens = await obtain_tokens(app)
    async with new_browser(app) as client:
        form = {"grant_type": "refresh_token", "refresh_token": tokens.refresh}
        response = await client.post("/token", data=form, auth=("other", "other-secret"))
        assert _error(response) == "invalid_grant"
        assert (await _refresh(client, tokens.refresh)).status_code == 200


async def test_refresh_after_access_token_expiry(app: Starlette, client: httpx.AsyncClient, clock: FrozenClock) -> None:
    tokens = await obtain_tokens(app)
    clock.advance(3600)
    assert await _userinfo_status(client, tokens.access) == 401
    renewed = Tokens((await _refresh(client, tokens.refresh)).json())
    assert await _userinfo_status(client, renewed.access) == 200


async def test_missing_or_unknown_refresh_token(client: httpx.AsyncClient) -> None:
    assert _error(await token_request(client, {"grant_type": "refresh_token"})) == "invalid_request"
    assert _error(await _refresh(client, "acme_rt_nope")) == "invalid_grant"


async def test_access_token_is_not_a_refresh_token(app: Starlette, client: httpx.AsyncClient) -> None:
    tokens = await obtain_tokens(app)
    assert _error(await _refresh(client, tokens.access)) == "invalid_grant"


# --- revocation --------------------------------------------------------------------------------------------------


async def _revoke(client: httpx.AsyncClient, token: str, **extra: str) -> httpx.Response:
    return await client.post("/revoke", data={"token": token, **extra}, auth=(CLIENT_ID, CLIENT_SECRET))


async def test_revoking_an_access_token(app: Starlette, client: httpx.AsyncClient, stats: AcmeStats) -> None:
    tokens = await obtain_tokens(app)
    response = await _revoke(client, tokens.access, token_type_hint="access_token")
    assert response.status_code == 200
    assert await _userinfo_status(client, tokens.access) == 401
    assert (await _refresh(client, tokens.refresh)).status_code == 200
    assert stats.revocations == 1


async def test_revoking_a_refresh_token_ends_the_grant(app: Starlette, client: httpx.AsyncClient) -> None:
    tokens = await obtain_tokens(app)
    assert (await _revoke(client, tokens.refresh, token_type_hint="access_token")).status_code == 200
    assert _error(await _refresh(client, tokens.refresh)) == "invalid_grant"
    assert await _userinfo_status(client, tokens.access) == 401


async def test_revoking_unknown_tokens_is_still_200(client: httpx.AsyncClient) -> None:
    assert (await _revoke(client, "acme_at_never-issued")).status_code == 200
    assert (await _revoke(client, "x", token_type_hint="weird")).status_code == 200


async def test_revocation_needs_client_authentication(app: Starlette, client: httpx.AsyncClient) -> None:
    tokens = await obtain_tokens(app)
    response = await client.post("/revoke", data={"token": tokens.access}, auth=(CLIENT_ID, "wrong"))
    assert _error(response, 401) == "invalid_client"
    assert await _userinfo_status(client, tokens.access) == 200


async def test_revocation_needs_a_token(client: httpx.AsyncClient) -> None:
    assert _error(await client.post("/revoke", data={}, auth=(CLIENT_ID, CLIENT_SECRET))) == "invalid_request"


async def test_another_client_cannot_revoke(settings: AcmeSettings) -> None:
    other = AcmeClient("other", "other-secret", (CALLBACK,), "Other app")
    app = create_acme_app(AcmeSettings(ISSUER, (*settings.clients, other), settings.users))
    tokens = await obtain_tokens(app)
    async with new_browser(app) as client:
        response = await client.post("/revoke", data={"token": tokens.refresh}, auth=("other", "other-secret"))
        assert response.status_code == 200
        assert (await _refresh(client, tokens.refresh)).status_code == 200


async def test_token_endpoint_issues_tokens_for_the_consenting_user(app: Starlette, store: AcmeStore) -> None:
    tokens = await obtain_tokens(app)
    access = store.access_token(tokens.access)
    assert access is not None and access.user_id == ALICE_ID and access.client_id == CLIENT_ID


async def test_non_ascii_basic_credentials_are_invalid_client(client: httpx.AsyncClient) -> None:
    headers = {b"Authorization": b"Basic \x80\xff"}
    response = await client.post("/token", data={"grant_type": "refresh_token"}, headers=headers)
    assert _error(response, 401) == "invalid_client"
