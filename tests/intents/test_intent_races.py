"""Invariant 3 for intent digests, on SQLite and PostgreSQL: N concurrent commits of one confirmation run it once,
and N concurrent submissions of one confirmation form decide it once. Threads start together at a barrier and
each calls the service function, which opens its own write transaction."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

import pytest
from intent_support import SAME_ORIGIN, call_tool, confirm_path, events, structured

from deputy.errors import BrowserFlowError
from deputy.intents import service
from deputy.intents.commit import CommitAttempt
from deputy.intents.models import Draft, DraftStatus
from support import Env, hidden, make_mcp_env

pytestmark = pytest.mark.anyio

WORKERS = 12


@pytest.fixture
def race_env(tmp_path: Path, db_url: str) -> Iterator[Env]:
    env = make_mcp_env(tmp_path, db_url)
    try:
        yield env
    finally:
        env.ctx.store.db.dispose()


def race(call: Callable[[], Any]) -> tuple[list[Any], list[BaseException]]:
    barrier = threading.Barrier(WORKERS)

    def attempt() -> Any:
        barrier.wait(timeout=30)
        return call()

    pool = ThreadPoolExecutor(max_workers=WORKERS)
    try:
        futures = [pool.submit(attempt) for _ in range(WORKERS)]
        _, pending = wait(futures, timeout=60)
        assert not pending
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    results = [f.result() for f in futures if f.exception() is None]
    errors = [e for f in futures if (e := f.exception()) is not None]
    return results, errors


async def _drafted(env: Env) -> tuple[Any, str, dict[str, Any]]:
    browser = env.browser()
    _, tokens = await env.full_flow(browser, scope="crm.read crm.write")
    result = await call_tool(env, tokens["access_token"], "contacts_create", {"name": "Race Condition"})
    return browser, confirm_path(result), structured(result)


def _load(env: Env, draft_id: str) -> Draft:
    with env.ctx.store.read() as tx:
        draft = tx.intents.load(draft_id)
    assert draft is not None
    return draft


async def test_concurrent_commits_of_one_confirmation_have_one_winner(race_env: Env) -> None:
    env = race_env
    async with env.app.router.lifespan_context(env.app):  # type: ignore[attr-defined]
        browser, path, data = await _drafted(env)
        page = await browser.get(path)
        await browser.post(path, data={"csrf_token": hidden(page.text, "csrf_token"), "action": "approve"},
                           headers=SAME_ORIGIN)  # fmt: skip
    draft = _load(env, data["draft_id"])
    attempt = CommitAttempt(draft.user_id, draft.grant_id, draft.intent_hash)

    results, errors = race(lambda: service.commit(env.ctx, draft.draft_id, attempt))

    assert len(results) == 1 and results[0].status is DraftStatus.COMMITTED
    assert [type(e) for e in errors] == [service.CommitRefused] * (WORKERS - 1)
    assert {e.reason for e in errors if isinstance(e, service.CommitRefused)} == {"replayed"}
    names = [e["event"] for e in events(env)]
    assert names.count("intent.committed") == 1 and names.count("intent.commit_refused") == WORKERS - 1


async def test_concurrent_submissions_of_one_form_decide_once(race_env: Env) -> None:
    env = race_env
    async with env.app.router.lifespan_context(env.app):  # type: ignore[attr-defined]
        browser, path, data = await _drafted(env)
        page = await browser.get(path)
    token = hidden(page.text, "csrf_token")
    csrf_cookie = browser.cookies["__Host-deputy-csrf"]
    session_cookie = browser.cookies["__Host-deputy-session"]

    def submit() -> Draft:
        return service.decide(env.ctx, data["draft_id"], approve=True, csrf_token=token, csrf_cookie=csrf_cookie,
                              session_cookie=session_cookie)  # fmt: skip

    results, errors = race(submit)

    assert len(results) == 1 and results[0].status is DraftStatus.CONFIRMED and results[0].digest
    assert [type(e) for e in errors] == [BrowserFlowError] * (WORKERS - 1)
    assert [e["event"] for e in events(env)].count("intent.confirmed") == 1


def test_the_draft_store_round_trips_and_guards_its_transitions(race_env: Env) -> None:
    """The repository contract on both backends: each transition needs its exact precondition."""
    store = race_env.ctx.store
    draft = Draft("drf_x", "contacts_create", '{"name":"x"}', "h" * 64, "usr_1", "dcl_1", "grt_1", "POST",
                  "https://api/x", DraftStatus.PENDING, 100, 700)  # fmt: skip
    with store.write() as tx:
        tx.intents.create(draft)
        assert tx.intents.set_csrf("drf_x", "usr_2", "c1", now=200) is False  # another user
        assert tx.intents.set_csrf("drf_x", "usr_1", "c1", now=200) is True
        assert tx.intents.decide("drf_x", "usr_1", ["wrong"], now=200, status=DraftStatus.CONFIRMED, digest="d") is None
        assert tx.intents.decide("drf_x", "usr_1", ["c1"], now=700, status=DraftStatus.CONFIRMED, digest="d") is None
        assert tx.intents.commit("drf_x", user_id="usr_1", grant_id="grt_1", intent_hash="h" * 64, now=200) is None
        confirmed = tx.intents.decide("drf_x", "usr_1", ["c1"], now=200, status=DraftStatus.CONFIRMED, digest="d")
        assert confirmed is not None and confirmed.digest == "d" and confirmed.decided_at == 200
        assert tx.intents.commit("drf_x", user_id="usr_1", grant_id="grt_2", intent_hash="h" * 64, now=201) is None
        assert tx.intents.commit("drf_x", user_id="usr_1", grant_id="grt_1", intent_hash="x" * 64, now=201) is None
        done = tx.intents.commit("drf_x", user_id="usr_1", grant_id="grt_1", intent_hash="h" * 64, now=201)
        assert done is not None and done.status is DraftStatus.COMMITTED and done.committed_at == 201
        assert tx.intents.load("drf_x") == done
        assert tx.intents.count_pending("grt_1", now=201) == 0
        assert tx.intents.purge_expired(699) == 0 and tx.intents.purge_expired(700) == 1
        assert tx.intents.load("drf_x") is None
