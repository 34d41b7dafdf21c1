"""POST /confirm is protected like the consent form (signed double-submit CSRF, Origin, Fetch Metadata), and the
page carries the same headers. Each refused attempt leaves the draft unconfirmed; a control shows the real form
works. Bad links get Deputy's own HTML page, never a 500."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from intent_support import SAME_ORIGIN, acme_records, call_tool, confirm_path, decide, events, structured

from support import DEPUTY, Env, hidden, make_mcp_env

pytestmark = pytest.mark.anyio

CSRF_COOKIE = "__Host-deputy-csrf"


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    e = make_mcp_env(tmp_path)
    async with e.app.router.lifespan_context(e.app):  # type: ignore[attr-defined]
        yield e
    e.ctx.store.db.dispose()


@pytest.fixture
async def drafted(env: Env) -> tuple[httpx.AsyncClient, str, dict[str, Any], str]:
    """A signed-in browser, a draft's page path, its commit arguments and the access token."""
    browser = env.browser()
    _, tokens = await env.full_flow(browser, scope="crm.read crm.write")
    result = await call_tool(env, tokens["access_token"], "contacts_create", {"name": "Eve"})
    return browser, confirm_path(result), structured(result)["commit_arguments"], tokens["access_token"]


async def _still_unconfirmed(env: Env, token: str, commit_arguments: dict[str, Any]) -> bool:
    before = acme_records(env)
    r = await call_tool(env, token, "contacts_create", commit_arguments)
    return r["structuredContent"].get("status") == "confirmation_required" and acme_records(env) == before


async def _token(browser: httpx.AsyncClient, path: str) -> str:
    page = await browser.get(path)
    assert page.status_code == 200
    return hidden(page.text, "csrf_token")


@pytest.mark.parametrize(
    ("form", "headers", "status"),
    [
        ({"action": "approve"}, SAME_ORIGIN, 400),  # no token
        ({"action": "approve", "csrf_token": "forged-token"}, SAME_ORIGIN, 400),  # wrong token
        ({"action": "approve", "csrf_token": "TOKEN"}, {"origin": "https://evil.example"}, 403),
        ({"action": "approve", "csrf_token": "TOKEN"}, {"sec-fetch-site": "cross-site"}, 403),
        ({"action": "approve", "csrf_token": "TOKEN"}, {"origin": "null", "sec-fetch-site": "cross-site"}, 403),
        ({"action": "delete-everything", "csrf_token": "TOKEN"}, SAME_ORIGIN, 400),
    ],
)
async def test_forged_confirmations_are_refused(
    env: Env,
    drafted: tuple[httpx.AsyncClient, str, dict[str, Any], str],
    form: dict[str, str],
    headers: dict[str, str],
    status: int,
) -> None:
    browser, path, commit_arguments, token = drafted
    real = await _token(browser, path)
    form = {k: real if v == "TOKEN" else v for k, v in form.items()}
    r = await browser.post(path, data=form, headers=headers)
    assert r.status_code == status and r.headers["content-type"].startswith("text/html")
    assert r.headers["x-frame-options"] == "DENY" and "no-store" in r.headers["cache-control"]
    assert await _still_unconfirmed(env, token, commit_arguments)
    assert "intent.confirmed" not in [e["event"] for e in events(env)]


async def test_the_token_is_bound_to_the_browser_cookie(
    env: Env, drafted: tuple[httpx.AsyncClient, str, dict[str, Any], str]
) -> None:
    browser, path, commit_arguments, token = drafted
    real = await _token(browser, path)
    browser.cookies.set(CSRF_COOKIE, "another-browsers-cookie", domain="deputy.example")
    r = await browser.post(path, data={"csrf_token": real, "action": "approve"}, headers=SAME_ORIGIN)
    assert r.status_code == 400
    refused = [e for e in events(env) if e["event"] == "intent.confirm_refused"]
    assert [e["detail"]["reason"] for e in refused] == ["stale"]
    assert await _still_unconfirmed(env, token, commit_arguments)


async def test_a_used_form_cannot_decide_again(
    env: Env, drafted: tuple[httpx.AsyncClient, str, dict[str, Any], str]
) -> None:
    browser, path, _, _ = drafted
    real = await _token(browser, path)
    first = await browser.post(path, data={"csrf_token": real, "action": "reject"}, headers=SAME_ORIGIN)
    second = await browser.post(path, data={"csrf_token": real, "action": "approve"}, headers=SAME_ORIGIN)
    assert first.status_code == 200 and second.status_code == 409
    assert [e["event"] for e in events(env)][-2:] == ["intent.rejected", "intent.confirm_refused"]


@pytest.mark.parametrize("headers", [SAME_ORIGIN, {"origin": "null", "sec-fetch-site": "same-origin"}, {}])
async def test_the_real_form_confirms(
    env: Env, drafted: tuple[httpx.AsyncClient, str, dict[str, Any], str], headers: dict[str, str]
) -> None:
    """Control: same-origin (as Chromium sends it under no-referrer: Origin null) or no such headers at all."""
    browser, path, commit_arguments, token = drafted
    r = await decide(browser, path, headers=headers)
    assert r.status_code == 200
    done = await call_tool(env, token, "contacts_create", commit_arguments)
    assert done["isError"] is False and done["structuredContent"]["name"] == "Eve"


async def test_the_page_carries_the_page_headers(drafted: tuple[httpx.AsyncClient, str, dict[str, Any], str]) -> None:
    browser, path, _, _ = drafted
    r = await browser.get(path)
    csp = r.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp and "script-src" not in csp
    assert "form-action 'self'" in csp
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["cache-control"] == "no-store"


async def test_invisible_characters_are_shown_escaped(env: Env) -> None:
    browser = env.browser()
    _, tokens = await env.full_flow(browser, scope="crm.read crm.write")
    spoof = "Bob\u202e\u200bmoc.evil"  # a right-to-left override and a zero-width space
    result = await call_tool(env, tokens["access_token"], "contacts_create", {"name": spoof})
    page = await browser.get(confirm_path(result))
    assert "\u202e" not in page.text and "\u200b" not in page.text
    assert "\\u202e" in page.text and "\\u200b" in page.text


async def test_bad_links_get_an_html_page_never_a_500(env: Env) -> None:
    async with env.browser() as browser:
        for path in ("/confirm/", "/confirm/drf_nope", "/confirm/" + "%ff" * 40):
            r = await browser.get(path)
            assert r.status_code in (404, 405) and r.status_code != 500
        r = await browser.post(
            "/confirm/drf_nope", content=b"\xff\xfe", headers={"content-type": "application/x-www-form-urlencoded"}
        )
        assert r.status_code == 400 and r.headers["content-type"].startswith("text/html")
        r = await browser.post("/confirm/drf_nope", json={"action": "approve"}, headers={"origin": DEPUTY})
        assert r.status_code == 400
