"""One complete pass through Acme as Deputy will use it, then the silent repeat the attack depends on."""

from __future__ import annotations

from urllib.parse import urlencode

import httpx
import pytest
from acme_flow import (
    ALICE_ID,
    CALLBACK,
    ISSUER,
    authorize_params,
    decide,
    exchange,
    is_consent_page,
    is_login_page,
    log_in,
    make_pkce,
    redirect_params,
    token_request,
)

from deputy.demo.acme import AcmeStats

pytestmark = pytest.mark.anyio


async def test_login_consent_code_token_userinfo_api(client: httpx.AsyncClient, stats: AcmeStats) -> None:
    verifier, challenge = make_pkce()
    params = authorize_params(scope="profile contacts:read contacts:write", state="opaque-state")
    params.update(code_challenge=challenge, code_challenge_method="S256")
    metadata = (await client.get("/.well-known/oauth-authorization-server")).json()

    login_page = await client.get(f"{metadata['authorization_endpoint']}?{urlencode(params)}")
    assert is_login_page(login_page)
    consent_page = await log_in(client, login_page)
    assert is_consent_page(consent_page)
    callback = redirect_params(await decide(client, consent_page))
    assert callback["state"] == "opaque-state" and callback["iss"] == metadata["issuer"] == ISSUER

    tokens = (await exchange(client, callback["code"], code_verifier=verifier)).json()
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert (await client.get(metadata["userinfo_endpoint"], headers=headers)).json()["sub"] == ALICE_ID

    created = await client.post("/api/v1/contacts", json={"name": "Flow Test"}, headers=headers)
    assert created.status_code == 201
    found = (await client.get("/api/v1/contacts/search", params={"q": "flow test"}, headers=headers)).json()
    assert [item["id"] for item in found["items"]] == [created.json()["id"]]
    assert (await client.get("/api/v1/deals", headers=headers)).status_code == 403

    refreshed = await token_request(client, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200
    assert stats.authorize_requests == 2 and stats.codes_issued == 1
    assert dict(stats.token_requests) == {"authorization_code": 1, "refresh_token": 1}
    assert stats.api_calls == 3 and stats.userinfo_requests == 1 and stats.logins == 1


async def test_second_authorization_is_silent(client: httpx.AsyncClient, stats: AcmeStats) -> None:
    """With the session and consent cookies, any authorization URL for this client yields a code, unseen."""
    consent_page = await log_in(client, await client.get("/authorize", params=authorize_params()))
    redirect_params(await decide(client, consent_page))
    shown_before = stats.consent_pages_shown + stats.login_pages_shown

    _, attacker_challenge = make_pkce()
    attacker_params = authorize_params(
        state="attacker-state", code_challenge=attacker_challenge, code_challenge_method="S256"
    )
    response = await client.get("/authorize", params=attacker_params)

    assert response.status_code == 302
    assert response.headers["location"].startswith(f"{CALLBACK}?code=acme_ac_")
    assert redirect_params(response)["state"] == "attacker-state"
    assert stats.consent_pages_shown + stats.login_pages_shown == shown_before
    assert stats.consent_skipped == 1
