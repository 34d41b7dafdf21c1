"""Invariant 3 under real contention: N concurrent redemptions of one one-shot value yield exactly one success.

Each race runs 20 OS threads that start together at a barrier; every thread calls the *service* function, which
opens its own write transaction. SQLite is file-backed (WAL, ``BEGIN IMMEDIATE``), PostgreSQL runs READ COMMITTED:
on both, the guarded ``UPDATE … RETURNING`` must hand the row to one caller and refuse the other 19 cleanly, with
no "database is locked", no IntegrityError, no deadlock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

import httpx
import pytest

from deputy.errors import BrowserFlowError, InvalidGrantError
from deputy.oauth.models import FlowStatus
from deputy.service.authorization import consume_callback
from deputy.service.token import ClientCredentials, IssuedTokens, redeem_code, refresh
from deputy.storage.sql.schema import grants
from support import ACME, APP_REDIRECT, DEPUTY, RESOURCE, Env, hidden, make_env, pkce, query_of

pytestmark = pytest.mark.anyio

WORKERS = 20
BINDING_COOKIE = "__Host-deputy-binding"


@pytest.fixture
def race_env(tmp_path: Path, db_url: str) -> Iterator[Env]:
    assert ":memory:" not in db_url  # threads must share one real database
    env = make_env(tmp_path, db_url)
    try:
        yield env
    finally:
        env.ctx.store.db.dispose()


def race(call: Callable[[], Any]) -> tuple[list[Any], list[BaseException]]:
    """Run ``call`` in WORKERS threads released together; returns (results, exceptions)."""
    barrier = threading.Barrier(WORKERS)

    def attempt() -> Any:
        barrier.wait(timeout=30)
        return call()

    pool = ThreadPoolExecutor(max_workers=WORKERS)
    try:
        futures = [pool.submit(attempt) for _ in range(WORKERS)]
        done, pending = wait(futures, timeout=60)
        assert not pending, f"{len(pending)} of {WORKERS} redemptions did not finish within 60 s"
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    results = [f.result(timeout=0) for f in futures if f.exception(timeout=0) is None]
    errors = [e for f in futures if (e := f.exception(timeout=0)) is not None]
    assert len(done) == WORKERS
    return results, errors


def assert_all_invalid_grant(errors: list[BaseException]) -> None:
    assert len(errors) == WORKERS - 1
    assert [type(e) for e in errors] == [InvalidGrantError] * (WORKERS - 1), errors
    assert {e.error for e in errors if isinstance(e, InvalidGrantError)} == {"invalid_grant"}


def audit_events(env: Env, event: str) -> list[dict[str, Any]]:
    with env.ctx.store.read() as tx:
        return tx.audit.events(event)


def grant_revocation(env: Env, grant_id: str) -> tuple[int | None, str | None]:
    with env.ctx.store.read() as tx:
        row = tx.conn.execute(
            grants.select()
            .with_only_columns(grants.c.revoked_at, grants.c.revoked_reason)
            .where(grants.c.grant_id == grant_id)
        ).one()
    return row.revoked_at, row.revoked_reason


async def issue_code(env: Env) -> tuple[str, str, str]:
    """A fresh, unredeemed Deputy authorization code: (client_id, code, PKCE verifier)."""
    client = await env.register()
    verifier, challenge = pkce()
    async with env.browser() as browser:
        trip = await env.drive(browser, env.authorize_url(client["client_id"], challenge))
    return client["client_id"], trip.params["code"], verifier


def redeem(env: Env, client_id: str, code: str, verifier: str) -> IssuedTokens:
    return redeem_code(
        env.ctx,
        ClientCredentials(client_id, "none"),
        code=code,
        redirect_uri=APP_REDIRECT,
        code_verifier=verifier,
        resource=RESOURCE,
    )


def use_refresh_token(env: Env, client_id: str, token: str) -> IssuedTokens:
    return refresh(env.ctx, ClientCredentials(client_id, "none"), refresh_token=token, scope=None, resource=None)


async def test_concurrent_code_redemption_has_exactly_one_winner(race_env: Env) -> None:
    env = race_env
    client_id, code, verifier = await issue_code(env)

    results, errors = race(lambda: redeem(env, client_id, code, verifier))

    assert len(results) == 1
    assert isinstance(results[0], IssuedTokens) and results[0].refresh_token
    assert_all_invalid_grant(errors)
    assert len(audit_events(env, "code.redeemed")) == 1
    reused = audit_events(env, "code.reused")
    assert [e["outcome"] for e in reused] == ["revoked"] * (WORKERS - 1)
    assert len(audit_events(env, "code.refused")) == 0


async def test_concurrent_redemptions_of_distinct_codes_all_succeed(race_env: Env) -> None:
    """Positive control: the same contention on 20 *different* codes refuses nothing (no lock errors, no losers)."""
    env = race_env
    client = await env.register()
    issued: list[tuple[str, str]] = []
    async with env.browser() as browser:
        for _ in range(WORKERS):
            verifier, challenge = pkce()
            trip = await env.drive(browser, env.authorize_url(client["client_id"], challenge))
            issued.append((trip.params["code"], verifier))
    slots = iter(issued)
    lock = threading.Lock()

    def redeem_own() -> IssuedTokens:
        with lock:
            code, verifier = next(slots)
        return redeem(env, client["client_id"], code, verifier)

    results, errors = race(redeem_own)

    assert errors == []
    assert len(results) == WORKERS
    assert len({r.refresh_token for r in results}) == WORKERS
    assert len(audit_events(env, "code.redeemed")) == WORKERS


async def test_concurrent_refresh_has_exactly_one_winner(race_env: Env) -> None:
    env = race_env
    client, tokens = await env.full_flow()
    client_id, token = client["client_id"], tokens["refresh_token"]

    results, errors = race(lambda: use_refresh_token(env, client_id, token))

    assert len(results) == 1
    assert isinstance(results[0], IssuedTokens)
    assert results[0].refresh_token not in (None, token)
    assert_all_invalid_grant(errors)
    assert len(audit_events(env, "refresh.rotated")) == 1
    assert len(audit_events(env, "refresh.reuse_detected")) == WORKERS - 1


async def approved_upstream_state(env: Env) -> tuple[str, str]:
    """Drive one browser to the redirect to Acme: (upstream ``state``, the browser's binding cookie)."""
    client = await env.register()
    _, challenge = pkce()
    async with env.browser() as browser:
        page = await browser.get(env.authorize_url(client["client_id"], challenge))
        assert page.status_code == 200, page.text
        form = {"flow_id": hidden(page.text, "flow_id"), "csrf_token": hidden(page.text, "csrf_token"),
                "action": "approve"}  # fmt: skip
        r = await browser.post(DEPUTY + "/consent", data=form)
        assert r.status_code == 303, r.text
        location = r.headers["location"]
        binding = browser.cookies.get(BINDING_COOKIE)
    assert httpx.URL(location).host == httpx.URL(ACME).host
    assert binding
    return query_of(location)["state"], binding


async def test_concurrent_callback_consumes_the_upstream_state_exactly_once(race_env: Env) -> None:
    env = race_env
    state, binding = await approved_upstream_state(env)

    results, errors = race(
        lambda: consume_callback(env.ctx, state=state, binding_cookie=binding, iss=None, expected_iss=None)
    )

    assert len(results) == 1
    flow, verifier = results[0]
    assert flow.status is FlowStatus.CALLBACK
    assert verifier  # Deputy's upstream PKCE verifier, opened from the vault
    assert len(errors) == WORKERS - 1
    assert [type(e) for e in errors] == [BrowserFlowError] * (WORKERS - 1), errors
    assert {e.status for e in errors if isinstance(e, BrowserFlowError)} == {400}  # replayed, not "other browser"
    failed = audit_events(env, "callback.failed")
    assert [e["detail"]["reason"] for e in failed] == ["replayed"] * (WORKERS - 1)
    with env.ctx.store.read() as tx:
        loaded = tx.flows.load(flow.flow_id)
    assert loaded is not None and loaded.status is FlowStatus.CALLBACK


async def test_after_a_code_race_the_code_is_burnt_and_the_winners_tokens_are_revoked(race_env: Env) -> None:
    """RFC 9700 §4.5 behaviour (with RFC 6749 §4.1.2: the server SHOULD revoke every token issued on a code that is
    presented again): a code presented more than once is treated as stolen, so the losers of the race revoke the
    grant, and the single winner's refresh token stops working too. A 21st, late redemption is refused as well."""
    env = race_env
    client_id, code, verifier = await issue_code(env)
    results, errors = race(lambda: redeem(env, client_id, code, verifier))
    assert len(results) == 1
    assert_all_invalid_grant(errors)
    winner: IssuedTokens = results[0]
    assert winner.refresh_token is not None

    with pytest.raises(InvalidGrantError) as late:
        redeem(env, client_id, code, verifier)
    assert late.value.error == "invalid_grant"

    with pytest.raises(InvalidGrantError) as refused:
        use_refresh_token(env, client_id, winner.refresh_token)
    assert refused.value.error == "invalid_grant"

    redeemed = audit_events(env, "code.redeemed")
    assert len(redeemed) == 1
    revoked_at, reason = grant_revocation(env, redeemed[0]["detail"]["grant_id"])
    assert revoked_at == env.clock.now()
    assert reason == "code-reuse"
