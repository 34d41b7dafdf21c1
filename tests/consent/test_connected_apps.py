"""/apps in-process: the sign-in button, the list of what the signed-in user approved, and POST /apps/revoke.

Revoking ends every token of the (user, client) pair: the refresh token at /token at once, the access token at the
real MCP endpoint within one revocation poll. Every forged revoke is refused beside the legitimate one, and a user
can never revoke anything of someone else.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from consent_support import browser, events, user_id
from sqlalchemy import func, select

from deputy.storage.sql.schema import consents, grants
from support import BOB, DEPUTY, MCP_HEADERS, Env, hidden, make_mcp_env

pytestmark = pytest.mark.anyio

ALICE_SUBJECT = "acme-u-1001"
SAME_ORIGIN = {"origin": DEPUTY, "sec-fetch-site": "same-origin"}


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    """Deputy with its MCP endpoint running (the official SDK's session manager needs the lifespan)."""
    e = make_mcp_env(tmp_path)
    async with e.app.router.lifespan_context(e.app):  # type: ignore[attr-defined]
        yield e
    e.ctx.store.db.dispose()


@pytest.fixture
async def ua(env: Env) -> AsyncIterator[httpx.AsyncClient]:
    async with browser(env) as client:
        yield client


async def tools_list(env: Env, access_token: str) -> httpx.Response:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    headers = {**MCP_HEADERS, "authorization": f"Bearer {access_token}"}
    async with env.api() as api:
        return await api.post("/mcp", content=json.dumps(body), headers=headers)


async def refresh(env: Env, client_id: str, refresh_token: str) -> httpx.Response:
    return await env.token(grant_type="refresh_token", refresh_token=refresh_token, client_id=client_id)


async def revoke_form(ua: httpx.AsyncClient) -> dict[str, str]:
    page = await ua.get("/apps")
    assert page.status_code == 200 and 'id="signed-in-user"' in page.text, page.text
    return {"client_id": hidden(page.text, "client_id"), "csrf_token": hidden(page.text, "csrf_token")}


def count(env: Env, table: Any) -> int:
    with env.ctx.store.read() as tx:
        return int(tx.conn.execute(select(func.count()).select_from(table)).scalar_one())


def assert_page_headers(r: httpx.Response) -> None:
    csp = r.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["cache-control"] == "no-store" and r.headers["referrer-policy"] == "no-referrer"


async def test_without_a_session_the_page_offers_to_sign_in(env: Env, ua: httpx.AsyncClient) -> None:
    r = await ua.get("/apps")
    assert r.status_code == 200
    assert 'id="sign-in-needed"' in r.text and 'id="sign-in"' in r.text and "Acme CRM" in r.text
    assert_page_headers(r)
    assert "form-action 'self' https://acme.example;" in r.headers["content-security-policy"]
    assert "__Host-deputy-csrf=" in r.headers["set-cookie"] and "__Host-deputy-binding" not in r.headers["set-cookie"]
    assert env.acme_app.state.acme_stats.authorize_requests == 0  # nothing upstream until the button is pressed


async def test_sign_in_opens_the_session_and_nothing_else(env: Env, ua: httpx.AsyncClient) -> None:
    client, _ = await env.full_flow()  # Alice connected an application in another browser
    alice = user_id(env, ALICE_SUBJECT)
    with env.ctx.store.read() as tx:
        credential = tx.vault.get(alice, "Acme CRM", "access_token")
    consents_before, grants_before = count(env, consents), count(env, grants)

    trip = await env.drive(ua, DEPUTY + "/apps")
    assert trip.kinds()[0] == "deputy-consent" and "acme-login" in trip.kinds()  # the button, then the upstream
    assert trip.final is not None and trip.steps[-1] == (DEPUTY + "/apps", "deputy.example-page")
    assert 'id="signed-in-user">Alice Example<' in trip.final.text and client["client_id"] in trip.final.text
    assert (count(env, consents), count(env, grants)) == (consents_before, grants_before)
    with env.ctx.store.read() as tx:
        assert tx.vault.get(alice, "Acme CRM", "access_token") == credential  # the applications' credential stays
    assert [e["user_id"] for e in events(env, "signin.ok")] == [alice]


async def test_the_list_shows_what_this_user_approved(env: Env, ua: httpx.AsyncClient) -> None:
    client, _ = await env.full_flow(ua)
    async with browser(env) as bob:
        other = await env.register(client_name="Bob's Tool")
        trip = await env.drive(bob, env.authorize_url(other["client_id"], "c" * 43), user=BOB)
        assert "code" in trip.params
    r = await ua.get("/apps")
    assert r.status_code == 200
    assert_page_headers(r)
    page = r.text
    assert f'data-client-id="{client["client_id"]}"' in page and "Test Assistant" in page
    assert "(name self-asserted, unverified)" in page
    assert '<strong class="redirect-host">app.example</strong>' in page and "<code>crm.read</code>" in page
    assert 'class="approved-at">2027-01-15 08:00 UTC<' in page  # FrozenClock's start
    assert "remember-until" not in page  # prompt = "always": nothing is approved without asking
    assert other["client_id"] not in page and "Bob&#39;s Tool" not in page


async def test_revoke_ends_the_access_and_refresh_tokens(env: Env, ua: httpx.AsyncClient) -> None:
    client, tokens = await env.full_flow(ua)
    cache = env.app.state.mcp.revocations  # type: ignore[attr-defined]
    clock = FakeMonotonic()
    cache.monotonic = clock
    assert (await tools_list(env, tokens["access_token"])).status_code == 200

    form = await revoke_form(ua)
    assert form["client_id"] == client["client_id"]
    r = await ua.post("/apps/revoke", data=form, headers=SAME_ORIGIN)
    assert r.status_code == 303 and r.headers["location"] == DEPUTY + "/apps"
    assert_page_headers(r)

    clock.now += cache.interval  # the bound: one poll interval (at most 1 s) after the revocation
    refused = await tools_list(env, tokens["access_token"])
    assert refused.status_code == 401 and cache.interval <= 1.0
    r = await refresh(env, client["client_id"], tokens["refresh_token"])
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    (done,) = events(env, "consent.revoked_by_user")
    assert (done["client_id"], done["user_id"], done["consents"], done["grants"], done["outcome"]) == (
        client["client_id"], user_id(env, ALICE_SUBJECT), 1, 1, "ok")  # fmt: skip
    page = (await ua.get("/apps")).text
    assert 'id="no-apps"' in page and client["client_id"] not in page


FORGERIES: dict[str, tuple[dict[str, str], dict[str, str | None]]] = {
    # name: (headers, form changes; None removes the field)
    "no csrf token": (SAME_ORIGIN, {"csrf_token": None}),
    "wrong csrf token": (SAME_ORIGIN, {"csrf_token": "0" * 64}),
    "foreign origin": ({"origin": "https://attacker.example", "sec-fetch-site": "cross-site"}, {}),
    "cross-site without origin": ({"sec-fetch-site": "cross-site"}, {}),
    "same-site sibling": ({"origin": "https://evil.deputy.example", "sec-fetch-site": "same-site"}, {}),
}


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
async def test_forged_revokes_are_refused(env: Env, ua: httpx.AsyncClient, forgery: str) -> None:
    client, tokens = await env.full_flow(ua)
    form = await revoke_form(ua)
    headers, changes = FORGERIES[forgery]
    forged = {k: v for k, v in {**form, **changes}.items() if v is not None}
    r = await ua.post("/apps/revoke", data=forged, headers=headers)
    assert r.status_code == 403 and 'id="error-title"' in r.text and "location" not in r.headers
    assert_page_headers(r)
    assert events(env, "consent.revoked_by_user") == []
    r = await refresh(env, client["client_id"], tokens["refresh_token"])
    assert r.status_code == 200, r.text  # positive control: nothing was revoked
    assert (await ua.post("/apps/revoke", data=form, headers=SAME_ORIGIN)).status_code == 303


async def test_a_token_from_another_browser_or_user_is_refused(env: Env, ua: httpx.AsyncClient) -> None:
    client, tokens = await env.full_flow(ua)
    form = await revoke_form(ua)
    async with browser(env) as other:  # another browser: its own CSRF cookie and session
        await env.drive(other, DEPUTY + "/apps", user=BOB)
        r = await other.post("/apps/revoke", data=form, headers=SAME_ORIGIN)
        assert r.status_code == 403
    async with browser(env) as anonymous:  # no session at all, even with Alice's form
        await anonymous.get("/apps")
        r = await anonymous.post("/apps/revoke", data=form, headers=SAME_ORIGIN)
        assert r.status_code == 403 and "Not signed in" in r.text
    assert (await refresh(env, client["client_id"], tokens["refresh_token"])).status_code == 200


async def test_revoking_another_users_client_touches_nothing(env: Env, ua: httpx.AsyncClient) -> None:
    alice_client, alice_tokens = await env.full_flow(ua)
    async with browser(env) as bob:
        await env.full_flow(bob, user=BOB)
        form = await revoke_form(bob)
        form["client_id"] = alice_client["client_id"]  # Bob's valid form, naming Alice's client
        r = await bob.post("/apps/revoke", data=form, headers=SAME_ORIGIN)
        assert r.status_code == 303
    r = await refresh(env, alice_client["client_id"], alice_tokens["refresh_token"])
    assert r.status_code == 200, r.text
    assert alice_client["client_id"] in (await ua.get("/apps")).text
    (ignored,) = events(env, "consent.revoked_by_user")
    assert ignored["outcome"] == "ignored" and ignored["consents"] == ignored["grants"] == 0
    assert ignored["user_id"] != user_id(env, ALICE_SUBJECT)


async def test_malformed_revokes_get_a_page_not_a_500(env: Env, ua: httpx.AsyncClient) -> None:
    await env.full_flow(ua)
    form = await revoke_form(ua)
    r = await ua.post("/apps/revoke", data={**form, "client_id": "x" * 1000}, headers=SAME_ORIGIN)
    assert r.status_code == 303  # no client has such an id: nothing to revoke
    r = await ua.post("/apps/revoke", content=b"\xff\xfe", headers={**SAME_ORIGIN, "content-type": "text/plain"})
    assert r.status_code == 400 and 'id="error-title"' in r.text
    form_type = {**SAME_ORIGIN, "content-type": "application/x-www-form-urlencoded"}
    r = await ua.post("/apps/revoke", content=b"client_id=a&client_id=b", headers=form_type)
    assert r.status_code == 400
