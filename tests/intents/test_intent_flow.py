"""Draft-then-commit in-process, on a frozen clock: the positive path and each way a commit must fail.

Each browser is its own cookie jar; the one that authorized the client holds the user's Deputy session.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from intent_support import acme_records, call_tool, confirm_path, decide, events, structured

from deputy.intents.policy import DRAFT_ARGUMENT
from support import ALICE, BOB, Env, make_mcp_env

pytestmark = pytest.mark.anyio

NEW_CONTACT = {"name": "Ada Lovelace", "email": "ada@example.com"}


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    e = make_mcp_env(tmp_path)
    async with e.app.router.lifespan_context(e.app):  # type: ignore[attr-defined]
        yield e
    e.ctx.store.db.dispose()


async def _session(env: Env, user: tuple[str, str] = ALICE) -> tuple[httpx.AsyncClient, dict[str, Any]]:
    """A browser that authorized a fresh client as ``user`` (so it holds the Deputy session) and the tokens."""
    browser = env.browser()
    _, tokens = await env.full_flow(browser, user=user, scope="crm.read crm.write")
    return browser, tokens


async def _draft(env: Env, token: str, arguments: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
    result = await call_tool(env, token, "contacts_create", arguments or NEW_CONTACT)
    assert result["isError"] is False
    return confirm_path(result), structured(result)


async def test_a_write_is_drafted_confirmed_and_committed_once(env: Env) -> None:
    browser, tokens = await _session(env)
    before = acme_records(env)
    path, draft = await _draft(env, tokens["access_token"])
    assert acme_records(env) == before  # the draft did not touch the upstream
    assert draft["commit_arguments"] == {**NEW_CONTACT, DRAFT_ARGUMENT: draft["draft_id"]}

    page = await browser.get(path)
    assert page.status_code == 200
    for shown in ("Ada Lovelace", "ada@example.com", "POST", "/api/v1/contacts", "Create a contact", "Test Assistant"):
        assert shown in page.text
    approved = await decide(browser, path)
    assert approved.status_code == 200 and "Approved" in approved.text
    assert acme_records(env) == before  # approval alone runs nothing either

    committed = await call_tool(env, tokens["access_token"], "contacts_create", draft["commit_arguments"])
    assert committed["isError"] is False, committed
    assert committed["structuredContent"]["name"] == "Ada Lovelace"
    assert [c for _, c in acme_records(env)["contacts"] if c["name"] == "Ada Lovelace"]

    replay = await call_tool(env, tokens["access_token"], "contacts_create", draft["commit_arguments"])
    assert replay["isError"] is True and replay["structuredContent"]["reason"] == "replayed"
    assert sum(1 for _, c in acme_records(env)["contacts"] if c["name"] == "Ada Lovelace") == 1
    names = [e["event"] for e in events(env)]
    assert names == ["intent.drafted", "intent.confirmed", "intent.committed", "intent.commit_refused"]
    assert len({e["detail"]["intent_hash"] for e in events(env)}) == 1


async def test_changing_one_argument_after_confirmation_is_refused(env: Env) -> None:
    browser, tokens = await _session(env)
    path, draft = await _draft(env, tokens["access_token"])
    await decide(browser, path)
    before = acme_records(env)
    changed = {**draft["commit_arguments"], "email": "mallory@attacker.example"}
    r = await call_tool(env, tokens["access_token"], "contacts_create", changed)
    assert r["isError"] is True and r["structuredContent"]["reason"] == "changed_arguments"
    assert acme_records(env) == before
    # the refusal did not spend the confirmation: the exact call still commits
    ok = await call_tool(env, tokens["access_token"], "contacts_create", draft["commit_arguments"])
    assert ok["isError"] is False


async def test_a_commit_before_approval_runs_nothing_and_repeats_the_link(env: Env) -> None:
    _, tokens = await _session(env)
    before = acme_records(env)
    _, draft = await _draft(env, tokens["access_token"])
    r = await call_tool(env, tokens["access_token"], "contacts_create", draft["commit_arguments"])
    assert r["isError"] is False and r["structuredContent"]["status"] == "confirmation_required"
    assert r["structuredContent"]["draft_id"] == draft["draft_id"]
    assert acme_records(env) == before


async def test_a_rejected_draft_cannot_be_committed(env: Env) -> None:
    browser, tokens = await _session(env)
    before = acme_records(env)
    path, draft = await _draft(env, tokens["access_token"])
    rejected = await decide(browser, path, "reject")
    assert rejected.status_code == 200 and "Rejected" in rejected.text
    r = await call_tool(env, tokens["access_token"], "contacts_create", draft["commit_arguments"])
    assert r["isError"] is True and r["structuredContent"]["reason"] == "rejected"
    assert acme_records(env) == before
    assert [e["event"] for e in events(env)][-2:] == ["intent.rejected", "intent.commit_refused"]


async def test_another_users_browser_cannot_confirm(env: Env) -> None:
    alice_browser, alice = await _session(env, ALICE)
    bob_browser, _ = await _session(env, BOB)
    path, draft = await _draft(env, alice["access_token"])
    page = await bob_browser.get(path)
    assert page.status_code == 403 and "Ada Lovelace" not in page.text
    # Bob forges the form with a token from his own page view of another draft: refused all the same
    forged = await bob_browser.post(path, data={"csrf_token": "x" * 43, "action": "approve"})
    assert forged.status_code == 403
    r = await call_tool(env, alice["access_token"], "contacts_create", draft["commit_arguments"])
    assert r["structuredContent"]["status"] == "confirmation_required"  # still not approved
    # positive control: Alice's own browser can
    assert (await decide(alice_browser, path)).status_code == 200


async def test_a_browser_without_a_deputy_session_is_told_where_to_open_the_link(env: Env) -> None:
    _, tokens = await _session(env)
    path, _ = await _draft(env, tokens["access_token"])
    async with env.browser() as stranger:
        page = await stranger.get(path)
    assert page.status_code == 401 and "browser where you" in page.text and "Ada Lovelace" not in page.text


async def test_an_expired_confirmation_is_refused(env: Env) -> None:
    browser, tokens = await _session(env)
    path, draft = await _draft(env, tokens["access_token"])
    await decide(browser, path)
    env.clock.advance(env.settings.intents.commit_ttl_seconds)
    r = await call_tool(env, tokens["access_token"], "contacts_create", draft["commit_arguments"])
    assert r["isError"] is True and r["structuredContent"]["reason"] == "expired"


async def test_a_confirmation_just_inside_its_lifetime_commits(env: Env) -> None:
    browser, tokens = await _session(env)
    path, draft = await _draft(env, tokens["access_token"])
    await decide(browser, path)
    env.clock.advance(env.settings.intents.commit_ttl_seconds - 1)
    r = await call_tool(env, tokens["access_token"], "contacts_create", draft["commit_arguments"])
    assert r["isError"] is False


async def test_an_expired_draft_can_be_neither_confirmed_nor_committed(env: Env) -> None:
    browser, tokens = await _session(env)
    path, draft = await _draft(env, tokens["access_token"])
    env.clock.advance(env.settings.intents.draft_ttl_seconds)
    page = await browser.get(path)
    assert page.status_code == 410 and "expired" in page.text
    r = await call_tool(env, tokens["access_token"], "contacts_create", draft["commit_arguments"])
    assert r["isError"] is True and r["structuredContent"]["reason"] == "expired"


async def test_a_draft_of_grant_a_cannot_be_committed_with_grant_b(env: Env) -> None:
    browser, grant_a = await _session(env)
    _, grant_b = await env.full_flow(browser, scope="crm.read crm.write")  # same user, another client
    before = acme_records(env)
    path, draft = await _draft(env, grant_a["access_token"])
    await decide(browser, path)
    r = await call_tool(env, grant_b["access_token"], "contacts_create", draft["commit_arguments"])
    assert r["isError"] is True and r["structuredContent"]["reason"] == "other_session"
    assert acme_records(env) == before
    assert events(env)[-1]["event"] == "intent.commit_refused"
    assert events(env)[-1]["detail"]["reason"] == "other_session"


async def test_another_users_token_cannot_commit_or_learn_of_the_draft(env: Env) -> None:
    browser, alice = await _session(env, ALICE)
    _, bob = await _session(env, BOB)
    path, draft = await _draft(env, alice["access_token"])
    await decide(browser, path)
    r = await call_tool(env, bob["access_token"], "contacts_create", draft["commit_arguments"])
    assert r["isError"] is True and r["structuredContent"]["reason"] == "unknown_draft"


async def test_unknown_and_malformed_draft_ids(env: Env) -> None:
    browser, tokens = await _session(env)
    for path in ("/confirm/drf_000000000000000000000000", "/confirm/" + "x" * 500, "/confirm/%00%ff"):
        page = await browser.get(path)
        assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
        posted = await browser.post(path, data={"csrf_token": "t", "action": "approve"})
        assert posted.status_code in (400, 404)
    r = await call_tool(env, tokens["access_token"], "contacts_create", {**NEW_CONTACT, DRAFT_ARGUMENT: 7})
    assert r["isError"] is True and "_deputy_draft" in r["content"][0]["text"]


async def test_read_tools_and_whoami_run_directly(env: Env) -> None:
    _, tokens = await _session(env)
    r = await call_tool(env, tokens["access_token"], "contacts_search", {"q": "a"})
    assert r["isError"] is False and "status" not in r["structuredContent"]
    assert events(env) == []


async def test_write_tools_advertise_the_draft_argument_and_read_tools_do_not(env: Env) -> None:
    _, tokens = await _session(env)
    async with env.api() as api:
        r = await api.post(
            "/mcp",
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            headers={
                "accept": "application/json, text/event-stream",
                "mcp-protocol-version": "2025-11-25",
                "authorization": f"Bearer {tokens['access_token']}",
            },
        )
    tools = {t["name"]: t for t in r.json()["result"]["tools"]}
    assert DRAFT_ARGUMENT in tools["contacts_create"]["inputSchema"]["properties"]
    assert DRAFT_ARGUMENT not in tools["contacts_search"]["inputSchema"]["properties"]


async def test_the_confirmation_is_spent_even_when_the_upstream_call_fails(env: Env) -> None:
    browser, tokens = await _session(env)
    arguments = {"id": "con_999999", "company": "Nowhere"}  # no such contact: Acme answers 404
    result = await call_tool(env, tokens["access_token"], "contacts_update", arguments)
    path, data = confirm_path(result), structured(result)
    await decide(browser, path)
    failed = await call_tool(env, tokens["access_token"], "contacts_update", data["commit_arguments"])
    assert failed["isError"] is True and "used up" in failed["content"][0]["text"]
    again = await call_tool(env, tokens["access_token"], "contacts_update", data["commit_arguments"])
    assert again["structuredContent"]["reason"] == "replayed"
