"""The confused-deputy attack and its neighbours (research §4.3 items 1–3): each must fail, beside the positive
control in test_flow.py."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from support import ACME, APP_REDIRECT, ATTACKER_REDIRECT, BOB, DEPUTY, Env, hidden, pkce

pytestmark = pytest.mark.anyio


def _acme_authorize_count(env: Env) -> int:
    return int(env.acme_app.state.acme_stats.authorize_requests)


async def test_confused_deputy_replay_shows_consent_and_sends_nothing_upstream(env: Env) -> None:
    async with env.browser() as victim:
        # The victim uses a legitimate client once: Acme now holds a long-lived consent cookie for Deputy.
        await env.full_flow(victim)
        assert any(c.name == "acme_consent" for c in victim.cookies.jar)
        attacker = await env.register([ATTACKER_REDIRECT], client_name="Totally Normal Agent")
        _, challenge = pkce()
        before = _acme_authorize_count(env)
        cookies_before = {c.name for c in victim.cookies.jar}
        r = await victim.get(env.authorize_url(attacker["client_id"], challenge, redirect_uri=ATTACKER_REDIRECT))

    assert r.status_code == 200, "Deputy must show its own consent page, not redirect"
    assert "location" not in r.headers
    assert "Totally Normal Agent" in r.text and "attacker.example" in r.text
    assert _acme_authorize_count(env) == before, "nothing may go upstream before the user approves"
    assert "__Host-deputy-binding" not in r.headers.get("set-cookie", "")
    assert "__Host-deputy-binding" not in cookies_before | {c.name for c in victim.cookies.jar}


async def test_confused_deputy_deny_sends_access_denied_not_a_code(env: Env) -> None:
    async with env.browser() as victim:
        await env.full_flow(victim)
        attacker = await env.register([ATTACKER_REDIRECT])
        _, challenge = pkce()
        trip = await env.drive(
            victim,
            env.authorize_url(attacker["client_id"], challenge, redirect_uri=ATTACKER_REDIRECT),
            deputy_action="deny",
        )
    assert trip.params["error"] == "access_denied"
    assert "code" not in trip.params
    assert trip.params["iss"] == DEPUTY


async def test_approving_client_a_does_not_approve_client_b(env: Env) -> None:
    async with env.browser() as browser:
        await env.full_flow(browser)
        other = await env.register([ATTACKER_REDIRECT])
        _, challenge = pkce()
        trip = await env.drive(
            browser,
            env.authorize_url(other["client_id"], challenge, redirect_uri=ATTACKER_REDIRECT),
            deputy_action=None,
        )
    assert trip.kinds() == ["deputy-consent"]
    assert trip.landed is None


async def _approve_and_capture_upstream(env: Env, browser_client: object, client_id: str, challenge: str) -> str:
    from httpx import AsyncClient

    assert isinstance(browser_client, AsyncClient)
    page = await browser_client.get(env.authorize_url(client_id, challenge))
    r = await browser_client.post(
        "/consent",
        data={
            "flow_id": hidden(page.text, "flow_id"),
            "csrf_token": hidden(page.text, "csrf_token"),
            "action": "approve",
        },
    )
    assert r.status_code == 303 and r.headers["location"].startswith(ACME + "/authorize")
    return str(r.headers["location"])


async def test_callback_from_another_browser_is_refused(env: Env) -> None:
    client = await env.register()
    _, challenge = pkce()
    async with env.browser() as attacker, env.browser() as victim:
        upstream_url = await _approve_and_capture_upstream(env, attacker, client["client_id"], challenge)
        # The attacker sends the upstream URL to the victim, who signs in to Acme in their own browser.
        trip = await env.drive(victim, upstream_url, user=BOB)
    assert trip.landed is None, "no code may reach the client"
    final = trip.final
    assert final is not None and final.status_code == 403
    assert "different browser" in final.text
    assert urlsplit(trip.steps[-1][0]).hostname == "deputy.example"


async def test_callback_in_the_approving_browser_still_works(env: Env) -> None:
    client = await env.register()
    _, challenge = pkce()
    async with env.browser() as browser:
        upstream_url = await _approve_and_capture_upstream(env, browser, client["client_id"], challenge)
        trip = await env.drive(browser, upstream_url)
    assert "code" in trip.params and trip.landed is not None and trip.landed.startswith(APP_REDIRECT)


async def _consent_page(env: Env, browser: object) -> tuple[str, str]:
    from httpx import AsyncClient

    assert isinstance(browser, AsyncClient)
    client = await env.register()
    _, challenge = pkce()
    page = await browser.get(env.authorize_url(client["client_id"], challenge))
    return hidden(page.text, "flow_id"), hidden(page.text, "csrf_token")


async def test_consent_post_without_the_csrf_cookie_is_refused(env: Env) -> None:
    async with env.browser() as victim, env.browser() as forger:
        flow_id, token = await _consent_page(env, victim)
        # A forged POST from another site carries the form fields but not the victim's SameSite cookie.
        r = await forger.post("/consent", data={"flow_id": flow_id, "csrf_token": token, "action": "approve"})
        assert r.status_code == 400 and "location" not in r.headers
        # The genuine browser can still approve: the forged attempt consumed nothing.
        ok = await victim.post("/consent", data={"flow_id": flow_id, "csrf_token": token, "action": "approve"})
        assert ok.status_code == 303


async def test_consent_post_with_a_wrong_token_is_refused(env: Env) -> None:
    async with env.browser() as browser:
        flow_id, token = await _consent_page(env, browser)
        r = await browser.post("/consent", data={"flow_id": flow_id, "csrf_token": token + "x", "action": "approve"})
    assert r.status_code == 400 and "location" not in r.headers


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "https://attacker.example"},
        {"sec-fetch-site": "cross-site"},
        {"sec-fetch-site": "same-site"},
        {"origin": "null", "sec-fetch-site": "cross-site"},
        {"origin": "null"},
    ],
)
async def test_cross_site_consent_post_is_refused(env: Env, headers: dict[str, str]) -> None:
    async with env.browser() as browser:
        flow_id, token = await _consent_page(env, browser)
        r = await browser.post(
            "/consent", data={"flow_id": flow_id, "csrf_token": token, "action": "approve"}, headers=headers
        )
        assert r.status_code == 403 and "location" not in r.headers
        ok = await browser.post(
            "/consent",
            data={"flow_id": flow_id, "csrf_token": token, "action": "approve"},
            headers={"origin": DEPUTY, "sec-fetch-site": "same-origin"},
        )
        assert ok.status_code == 303


async def test_consent_decision_is_one_shot(env: Env) -> None:
    async with env.browser() as browser:
        flow_id, token = await _consent_page(env, browser)
        first = await browser.post("/consent", data={"flow_id": flow_id, "csrf_token": token, "action": "approve"})
        second = await browser.post("/consent", data={"flow_id": flow_id, "csrf_token": token, "action": "deny"})
    assert first.status_code == 303
    assert second.status_code == 400 and "location" not in second.headers


async def test_consent_page_headers_and_cookie_attributes(env: Env) -> None:
    async with env.browser() as browser:
        client = await env.register()
        _, challenge = pkce()
        page = await browser.get(env.authorize_url(client["client_id"], challenge))
        csp = page.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "script-src" not in csp and "default-src 'none'" in csp
        assert page.headers["x-frame-options"] == "DENY"
        assert page.headers["referrer-policy"] == "no-referrer"
        assert page.headers["cache-control"].startswith("no-store")
        _assert_host_cookie(page.headers.get_list("set-cookie"), "__Host-deputy-csrf")
        r = await browser.post(
            "/consent",
            data={
                "flow_id": hidden(page.text, "flow_id"),
                "csrf_token": hidden(page.text, "csrf_token"),
                "action": "approve",
            },
        )
        _assert_host_cookie(r.headers.get_list("set-cookie"), "__Host-deputy-binding")


def _assert_host_cookie(set_cookies: list[str], name: str) -> None:
    matching = [c for c in set_cookies if c.startswith(name + "=")]
    assert len(matching) == 1, set_cookies
    attrs = {a.strip().split("=")[0].lower(): a.strip() for a in matching[0].split(";")[1:]}
    assert "secure" in attrs and "httponly" in attrs
    assert attrs["samesite"].lower() == "samesite=lax"
    assert attrs["path"] == "Path=/"
    assert "domain" not in attrs


async def test_client_name_comes_from_the_registration_not_the_query(env: Env) -> None:
    client = await env.register(client_name="Registered Name")
    _, challenge = pkce()
    async with env.browser() as browser:
        page = await browser.get(env.authorize_url(client["client_id"], challenge, client_name="Claude"))
    assert "Registered Name" in page.text and "Claude" not in page.text


async def test_client_name_markup_is_escaped(env: Env) -> None:
    client = await env.register(client_name='<script>alert(1)</script>"x')
    _, challenge = pkce()
    async with env.browser() as browser:
        page = await browser.get(env.authorize_url(client["client_id"], challenge))
    assert "<script>" not in page.text and "&lt;script&gt;" in page.text
