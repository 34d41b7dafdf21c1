"""Remembered consent (``consent.prompt = "remember"``): an approval made on the page stands in for it only for the
same signed-in user, the exact (client, redirect URI, scopes), a navigation that did not come from another site, and
only while it is unexpired, unrevoked and not waiting for a re-authorization. Every refusal shows the page exactly as
under ``"always"``, next to the positive control in which the page is skipped and a code is issued.

The cross-site case is FastMCP's GHSA-6x8h-498w-gv8c: a page on another site (there, an authorization server in
the middle) sends the victim's browser to /authorize for a client the victim approved before.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from consent_support import (
    browser,
    connect,
    entries,
    events,
    redeem,
    remember_env,
    upstream_authorizations,
    user_id,
)

from deputy.consent.remember import DAY
from deputy.service.client_admin import disable_client
from deputy.service.connected_apps import revoke_access
from support import ALICE, APP_REDIRECT, BOB, DEPUTY, Env, make_env, pkce

pytestmark = pytest.mark.anyio

OTHER_REDIRECT = "https://app.example/other-callback"
ALICE_SUBJECT, BOB_SUBJECT = "acme-u-1001", "acme-u-1002"  # the demo upstream's stable subjects


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    e = remember_env(tmp_path)
    yield e
    e.ctx.store.db.dispose()


@pytest.fixture
async def stack() -> AsyncIterator[AsyncExitStack]:
    """Closes the browsers a test opened."""
    async with AsyncExitStack() as s:
        yield s


async def remembered(env: Env, **register: Any) -> tuple[str, str]:
    """Alice approves a client on the page under "remember"; returns its client_id and her user id."""
    client = await env.register(**register)
    async with browser(env) as ua:
        trip, _ = await connect(env, ua, client["client_id"])
    assert trip.kinds()[0] == "deputy-consent" and "code" in trip.params
    return client["client_id"], user_id(env, ALICE_SUBJECT)


async def signed_in_browser(
    env: Env, stack: AsyncExitStack, fetch_site: str | None = "none", user: tuple[str, str] = ALICE
) -> httpx.AsyncClient:
    """A browser holding a Deputy session for ``user`` (signed in through /apps, so it approved nothing)."""
    ua = await stack.enter_async_context(browser(env, fetch_site))
    trip = await env.drive(ua, DEPUTY + "/apps", user=user)
    assert trip.final is not None and 'id="signed-in-user"' in trip.final.text
    return ua


async def assert_page_shown(env: Env, ua: httpx.AsyncClient, client_id: str, **extra: str) -> None:
    """The consent page, and nothing else: no upstream redirect, no binding cookie, no code at the client."""
    before = upstream_authorizations(env)
    trip, _ = await connect(env, ua, client_id, deputy_action=None, **extra)
    assert trip.kinds() == ["deputy-consent"], trip.steps
    assert trip.landed is None
    assert trip.final is not None and "__Host-deputy-binding" not in trip.final.headers.get("set-cookie", "")
    assert upstream_authorizations(env) == before


@pytest.mark.parametrize("fetch_site", ["none", "same-origin"])
async def test_remembered_approval_skips_the_page_for_the_same_user(
    env: Env, fetch_site: str, stack: AsyncExitStack
) -> None:
    client_id, alice = await remembered(env)
    ua = await signed_in_browser(env, stack, fetch_site)
    trip, verifier = await connect(env, ua, client_id)
    assert "deputy-consent" not in trip.kinds()
    assert trip.steps[0][1] == "redirect" and trip.steps[1][0].startswith("https://acme.example/authorize?")
    assert trip.params["state"] == "s1" and "code" in trip.params
    r = await redeem(env, trip, verifier, client_id)
    assert r.status_code == 200, r.text

    (used,) = events(env, "consent.remembered")
    assert (used["client_id"], used["user_id"], used["redirect_uri"], used["scopes"]) == (
        client_id, alice, APP_REDIRECT, "crm.read")  # fmt: skip
    approvals = [e["flow_id"] for e in events(env, "consent.approved")]
    shown = [e["flow_id"] for e in events(env, "consent.shown")]
    assert used["flow_id"] in approvals and used["flow_id"] not in shown
    assert len(events(env, "consent.used")) == 1


@pytest.mark.parametrize("fetch_site", ["cross-site", "same-site"])
async def test_navigation_from_another_site_shows_the_page(env: Env, fetch_site: str, stack: AsyncExitStack) -> None:
    """GHSA-6x8h-498w-gv8c: the attacker's site links to /authorize for a client the victim remembered."""
    client_id, _ = await remembered(env)
    ua = await signed_in_browser(env, stack)
    ua.headers["sec-fetch-site"] = fetch_site
    await assert_page_shown(env, ua, client_id)
    assert events(env, "consent.remembered") == []


async def test_navigation_without_fetch_metadata_shows_the_page(env: Env, stack: AsyncExitStack) -> None:
    client_id, _ = await remembered(env)
    ua = await signed_in_browser(env, stack, fetch_site=None)
    await assert_page_shown(env, ua, client_id)


async def test_another_users_session_shows_the_page(env: Env, stack: AsyncExitStack) -> None:
    client_id, _ = await remembered(env)
    bob = await signed_in_browser(env, stack, user=BOB)
    await assert_page_shown(env, bob, client_id)


async def test_no_session_shows_the_page(env: Env) -> None:
    client_id, _ = await remembered(env)
    async with browser(env) as ua:
        await assert_page_shown(env, ua, client_id)


async def test_another_redirect_uri_or_wider_scopes_show_the_page(env: Env, stack: AsyncExitStack) -> None:
    client_id, _ = await remembered(env, redirect_uris=[APP_REDIRECT, OTHER_REDIRECT])
    ua = await signed_in_browser(env, stack)
    await assert_page_shown(env, ua, client_id, redirect_uri=OTHER_REDIRECT)
    await assert_page_shown(env, ua, client_id, scope="crm.read crm.write")
    trip, _ = await connect(env, ua, client_id)
    assert "deputy-consent" not in trip.kinds() and "code" in trip.params  # the exact tuple still applies


async def test_expired_remembered_consent_shows_the_page(tmp_path: Path, stack: AsyncExitStack) -> None:
    env = remember_env(tmp_path, remember_days=1)
    client_id, _ = await remembered(env)
    ua = await signed_in_browser(env, stack)
    env.clock.advance(DAY - 1)
    trip, _ = await connect(env, ua, client_id)
    assert "deputy-consent" not in trip.kinds() and "code" in trip.params
    env.clock.advance(1)
    await assert_page_shown(env, ua, client_id)
    env.ctx.store.db.dispose()


async def test_revoked_remembered_consent_shows_the_page_until_approved_again(env: Env, stack: AsyncExitStack) -> None:
    client_id, alice = await remembered(env)
    ua = await signed_in_browser(env, stack)
    revoke_access(env.ctx, alice, client_id, actor="user")
    await assert_page_shown(env, ua, client_id)
    trip, _ = await connect(env, ua, client_id)
    assert trip.kinds()[0] == "deputy-consent" and "code" in trip.params  # approved on the page again...
    trip, _ = await connect(env, ua, client_id)
    assert "deputy-consent" not in trip.kinds() and "code" in trip.params  # ...and remembered again


async def test_consent_needing_reauthorization_shows_the_page(env: Env, stack: AsyncExitStack) -> None:
    client_id, alice = await remembered(env)
    ua = await signed_in_browser(env, stack)
    with env.ctx.store.write() as tx:
        tx.consents.mark_reauth_required(alice, now=env.clock.now())
    await assert_page_shown(env, ua, client_id)


async def test_prompt_always_shows_the_page_for_a_remembered_consent(tmp_path: Path, stack: AsyncExitStack) -> None:
    env = remember_env(tmp_path)
    client_id, _ = await remembered(env)
    env.ctx.store.db.dispose()
    always = make_env(tmp_path)  # the same database and keys, with the default prompt
    ua = await signed_in_browser(always, stack)
    await assert_page_shown(always, ua, client_id)
    always.ctx.store.db.dispose()


async def test_an_approval_under_always_is_never_remembered_later(tmp_path: Path, stack: AsyncExitStack) -> None:
    always = make_env(tmp_path)
    client = await always.register()
    async with browser(always) as ua:
        trip, _ = await connect(always, ua, client["client_id"])
    assert "code" in trip.params
    (entry,) = entries(always, user_id(always, ALICE_SUBJECT))
    assert entry.remember_until is None
    always.ctx.store.db.dispose()
    env = remember_env(tmp_path)
    ua = await signed_in_browser(env, stack)
    await assert_page_shown(env, ua, client["client_id"])
    env.ctx.store.db.dispose()


async def test_disabled_client_is_refused_on_a_local_page(env: Env, stack: AsyncExitStack) -> None:
    client_id, _ = await remembered(env)
    ua = await signed_in_browser(env, stack)
    disable_client(env.ctx, client_id)
    before = upstream_authorizations(env)
    trip, _ = await connect(env, ua, client_id)
    assert trip.kinds() == ["deputy.example-403"] and trip.landed is None
    assert trip.final is not None and "location" not in trip.final.headers
    assert "Application disabled" in trip.final.text
    assert upstream_authorizations(env) == before


async def test_remembered_use_keeps_the_approval_time_and_expiry(env: Env, stack: AsyncExitStack) -> None:
    client_id, alice = await remembered(env)
    (first,) = entries(env, alice)
    assert first.remember_until == first.consent.approved_at + 30 * DAY
    ua = await signed_in_browser(env, stack)
    env.clock.advance(3600)
    trip, _ = await connect(env, ua, client_id)
    assert "code" in trip.params
    (later,) = entries(env, alice)
    assert (later.consent.approved_at, later.remember_until) == (first.consent.approved_at, first.remember_until)
    assert later.consent.last_used_at == first.consent.approved_at + 3600


async def test_callback_for_another_upstream_user_is_denied(env: Env, stack: AsyncExitStack) -> None:
    """Deputy remembered Alice; the upstream signs in Bob in this browser. No code, and nothing stored for Bob."""
    client_id, _ = await remembered(env)
    ua = await signed_in_browser(env, stack)
    ua.cookies.delete("acme_session", domain="acme.example")
    ua.cookies.delete("acme_consent", domain="acme.example")
    trip, _ = await connect(env, ua, client_id, user=BOB)
    assert "deputy-consent" not in trip.kinds() and "acme-login" in trip.kinds()
    assert trip.params["error"] == "access_denied" and "code" not in trip.params
    (failed,) = [e for e in events(env, "callback.failed") if e["reason"] == "remembered-for-another-user"]
    assert failed["client_id"] == client_id
    with env.ctx.store.read() as tx:
        assert tx.users.load_by_subject(BOB_SUBJECT) is None


async def test_revocation_between_authorize_and_callback_is_denied(env: Env, stack: AsyncExitStack) -> None:
    client_id, alice = await remembered(env)
    ua = await signed_in_browser(env, stack)
    _, challenge = pkce()
    r = await ua.get(env.authorize_url(client_id, challenge))
    assert r.status_code == 302 and r.headers["location"].startswith("https://acme.example/authorize?")
    revoke_access(env.ctx, alice, client_id, actor="user")
    trip = await env.drive(ua, r.headers["location"])
    assert trip.params["error"] == "access_denied" and "code" not in trip.params


async def test_the_page_says_when_approvals_are_remembered(tmp_path: Path, env: Env) -> None:
    client = await env.register()
    async with browser(env) as ua:
        trip, _ = await connect(env, ua, client["client_id"], deputy_action=None)
    assert trip.final is not None and 'id="remember-note"' in trip.final.text and "30 days" in trip.final.text
    always = make_env(tmp_path / "always")
    client = await always.register()
    async with browser(always) as ua:
        trip, _ = await connect(always, ua, client["client_id"], deputy_action=None)
    assert trip.final is not None and 'id="remember-note"' not in trip.final.text
    always.ctx.store.db.dispose()
