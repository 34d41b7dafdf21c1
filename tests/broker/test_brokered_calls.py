"""Brokered calls through the real MCP endpoint: one refresh for many concurrent calls, and an upstream grant
revoked at the provider marking the user's consents for re-authorization. On SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from broker_support import call_tool

from deputy.demo.runner import ACME_TOOLS
from deputy.storage.sql.vault import SealedCredential
from support import ACME, ALICE, BOB, Env, make_env

pytestmark = pytest.mark.anyio


def _mcp_env(tmp_path: Path, db_url: str) -> Env:
    return make_env(tmp_path, db_url, tools={"catalogue": str(ACME_TOOLS)}, upstream={"api_base_url": ACME + "/api/v1"})


def _refresh_row(env: Env, user_id: str) -> SealedCredential:
    with env.ctx.store.read() as tx:
        row = tx.vault.get(user_id, env.settings.upstream.name, "refresh_token")
    assert row is not None
    return row


async def test_ten_concurrent_calls_with_an_expired_upstream_token_refresh_once(tmp_path: Path, db_url: str) -> None:
    env = _mcp_env(tmp_path, db_url)
    try:
        async with env.app.router.lifespan_context(env.app):  # type: ignore[attr-defined]
            _, tokens = await env.full_flow(scope="crm.read")
            token = tokens["access_token"]
            user = (await call_tool(env.app, token, "deputy_whoami"))["structuredContent"]["user"]
            stats, store = env.acme_app.state.acme_stats, env.acme_app.state.acme_store
            before_rt = _refresh_row(env, user)
            before = stats.refreshes
            store.expire_access_tokens()
            results = await asyncio.gather(*(call_tool(env.app, token, "contacts_list") for _ in range(10)))
            assert [r["isError"] for r in results] == [False] * 10
            assert stats.refreshes - before == 1
            after_rt = _refresh_row(env, user)
            assert after_rt.ciphertext != before_rt.ciphertext  # Acme rotates: the new refresh token was stored
            # ...and it works: the next expiry is handled with it, again exactly once.
            store.expire_access_tokens()
            results = await asyncio.gather(*(call_tool(env.app, token, "deals_list") for _ in range(5)))
            assert [r["isError"] for r in results] == [False] * 5 and stats.refreshes - before == 2
    finally:
        env.ctx.store.db.dispose()


async def test_a_grant_revoked_at_the_upstream_marks_consents_and_says_so(tmp_path: Path, db_url: str) -> None:
    env = _mcp_env(tmp_path, db_url)
    try:
        async with env.app.router.lifespan_context(env.app):  # type: ignore[attr-defined]
            _, alice = await env.full_flow(user=ALICE, scope="crm.read")
            _, bob = await env.full_flow(user=BOB, scope="crm.read")
            alice_id = (await call_tool(env.app, alice["access_token"], "deputy_whoami"))["structuredContent"]["user"]
            store = env.acme_app.state.acme_store
            assert store.revoke_user_grants("acme-u-1001") > 0  # Alice removes the app in Acme's settings
            result = await call_tool(env.app, alice["access_token"], "contacts_list")
            text = result["content"][0]["text"]
            assert result["isError"] is True and "revoked" in text and "authorize again" in text
            with env.ctx.store.read() as tx:
                consents = tx.consents.list_for_user(alice_id)
                events = tx.audit.events("broker.upstream_grant_revoked")
                left = tx.vault.get(alice_id, env.settings.upstream.name, "refresh_token")
            assert consents and all(c.reauth_required_at is not None for c in consents)
            assert [e["user_id"] for e in events] == [alice_id] and left is None
            # The next call fails fast (no credential) and Bob is untouched.
            refreshes = env.acme_app.state.acme_stats.refreshes
            again = await call_tool(env.app, alice["access_token"], "contacts_list")
            assert again["isError"] is True and env.acme_app.state.acme_stats.refreshes == refreshes
            assert (await call_tool(env.app, bob["access_token"], "contacts_list"))["isError"] is False
            # A new authorization clears the mark and tools work again.
            _, renewed = await env.full_flow(user=ALICE, scope="crm.read")
            assert (await call_tool(env.app, renewed["access_token"], "contacts_list"))["isError"] is False
            with env.ctx.store.read() as tx:
                assert all(c.reauth_required_at is None for c in tx.consents.list_for_user(alice_id))
    finally:
        env.ctx.store.db.dispose()


async def test_without_a_refresh_token_an_expired_credential_means_reauthorize(tmp_path: Path) -> None:
    """A provider without refresh tokens (a GitHub OAuth App): nothing to wait for, the user authorizes again."""
    env = _mcp_env(tmp_path, f"sqlite:///{tmp_path / 'deputy.db'}")
    try:
        async with env.app.router.lifespan_context(env.app):  # type: ignore[attr-defined]
            _, tokens = await env.full_flow(scope="crm.read")
            user = (await call_tool(env.app, tokens["access_token"], "deputy_whoami"))["structuredContent"]["user"]
            with sqlite3.connect(tmp_path / "deputy.db") as db:
                db.execute("DELETE FROM upstream_credentials WHERE user_id = ? AND purpose = 'refresh_token'", (user,))
            env.acme_app.state.acme_store.expire_access_tokens()
            result = await call_tool(env.app, tokens["access_token"], "contacts_list")
    finally:
        env.ctx.store.db.dispose()
    assert result["isError"] is True and "authorize again" in result["content"][0]["text"]
