"""The upstream callback (research §4.3 item 7, invariants 3–4): state missing, mismatched, replayed or expired
is refused on Deputy's own page and nothing reaches the client."""

from __future__ import annotations

from urllib.parse import urlencode

import httpx
import pytest

from support import ACME, Env, hidden, pkce, query_of

pytestmark = pytest.mark.anyio


async def _approved(env: Env, browser: httpx.AsyncClient) -> str:
    client = await env.register()
    _, challenge = pkce()
    page = await browser.get(env.authorize_url(client["client_id"], challenge))
    r = await browser.post(
        "/consent",
        data={
            "flow_id": hidden(page.text, "flow_id"),
            "csrf_token": hidden(page.text, "csrf_token"),
            "action": "approve",
        },
    )
    assert r.status_code == 303
    return str(r.headers["location"])


async def _upstream_callback(env: Env, browser: httpx.AsyncClient, upstream_url: str) -> str:
    """Let the user sign in at Acme and return Acme's redirect to Deputy's /callback (not yet followed)."""
    trip = await env.drive(browser, upstream_url, stop_hosts=("deputy.example",))
    assert trip.landed is not None and trip.landed.startswith("https://deputy.example/callback?")
    return trip.landed


async def test_missing_state_is_refused(env: Env) -> None:
    async with env.browser() as browser:
        callback = await _upstream_callback(env, browser, await _approved(env, browser))
        params = query_of(callback)
        params.pop("state")
        r = await browser.get("/callback?" + urlencode(params))
    assert r.status_code == 400 and "location" not in r.headers


async def test_mismatched_state_is_refused(env: Env) -> None:
    async with env.browser() as browser:
        callback = await _upstream_callback(env, browser, await _approved(env, browser))
        params = query_of(callback)
        params["state"] = params["state"][:-2] + "xx"
        r = await browser.get("/callback?" + urlencode(params))
    assert r.status_code == 400 and "location" not in r.headers


async def test_replayed_state_is_refused(env: Env) -> None:
    async with env.browser() as browser:
        callback = await _upstream_callback(env, browser, await _approved(env, browser))
        binding = browser.cookies.get("__Host-deputy-binding")
        first = await browser.get(callback)
        # The first callback cleared the binding cookie; restore it so only the one-shot rule is tested.
        browser.cookies.set("__Host-deputy-binding", binding or "", domain="deputy.example")
        second = await browser.get(callback)
    assert first.status_code == 302 and "code=" in first.headers["location"]
    assert second.status_code == 400 and "location" not in second.headers


async def test_expired_state_is_refused(env: Env) -> None:
    async with env.browser() as browser:
        callback = await _upstream_callback(env, browser, await _approved(env, browser))
        env.clock.advance(env.settings.lifetimes.flow + 1)
        r = await browser.get(callback)
    assert r.status_code == 400 and "location" not in r.headers


async def test_callback_without_binding_cookie_is_refused(env: Env) -> None:
    async with env.browser() as browser:
        callback = await _upstream_callback(env, browser, await _approved(env, browser))
        browser.cookies.delete("__Host-deputy-binding")
        r = await browser.get(callback)
    assert r.status_code == 403 and "location" not in r.headers


async def test_wrong_upstream_issuer_is_refused(env: Env) -> None:
    async with env.browser() as browser:
        callback = await _upstream_callback(env, browser, await _approved(env, browser))
        params = query_of(callback)
        assert params.get("iss") == ACME
        params["iss"] = "https://evil-as.example"
        r = await browser.get("/callback?" + urlencode(params))
    assert r.status_code == 403 and "location" not in r.headers


async def test_upstream_denial_reaches_the_client_as_access_denied(env: Env) -> None:
    async with env.browser() as browser:
        upstream = await _approved(env, browser)
        trip = await env.drive(browser, upstream, acme_action="deny")
    assert trip.params["error"] == "access_denied" and "code" not in trip.params


async def test_garbage_callback_is_a_local_page(env: Env) -> None:
    async with env.browser() as browser:
        for query in ("", "?state=", "?code=x", "?state=a&state=b", "?error=access_denied"):
            r = await browser.get("/callback" + query)
            assert r.status_code == 400 and "location" not in r.headers, query
