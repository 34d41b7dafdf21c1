"""The ``[intents]`` policy through the MCP endpoint: thresholds, trusted pre-registered clients (each skip
audited), and intents switched off."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from intent_support import acme_records, call_tool, events, structured

from deputy.demo.runner import ACME_TOOLS
from support import ACME, APP_REDIRECT, RESOURCE, Env, make_env, make_mcp_env, pkce

pytestmark = pytest.mark.anyio

OPS = "ops-console-1"


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    e = make_env(
        tmp_path,
        tools={"catalogue": str(ACME_TOOLS)},
        upstream={"api_base_url": ACME + "/api/v1"},
        clients=[{"client_id": OPS, "client_name": "Ops console", "redirect_uris": [APP_REDIRECT]}],
        intents={
            "thresholds": {"deals_update": {"field": "amount", "above": 10_000}},
            "trusted_clients": {OPS: ["notes_create"]},
        },
    )
    async with e.app.router.lifespan_context(e.app):  # type: ignore[attr-defined]
        yield e
    e.ctx.store.db.dispose()


async def _static_client_token(env: Env) -> str:
    verifier, challenge = pkce()
    async with env.browser() as browser:
        url = env.authorize_url(OPS, challenge, scope="crm.read crm.write")
        trip = await env.drive(browser, url)
    r = await env.token(grant_type="authorization_code", code=trip.params["code"], redirect_uri=APP_REDIRECT,
                        client_id=OPS, code_verifier=verifier, resource=RESOURCE)  # fmt: skip
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


def _status(result: dict[str, Any]) -> str | None:
    return structured(result).get("status") if result.get("structuredContent") else None


async def test_a_trusted_client_skips_confirmation_for_its_tools_only_and_each_skip_is_audited(env: Env) -> None:
    token = await _static_client_token(env)
    note = {"body": "Called Carol", "contact_id": "con_1001"}
    done = await call_tool(env, token, "notes_create", note)
    assert done["isError"] is False and _status(done) is None and structured(done)["body"] == "Called Carol"
    skipped = [e for e in events(env) if e["event"] == "intent.skipped_trusted"]
    assert len(skipped) == 1 and skipped[0]["client_id"] == OPS and skipped[0]["detail"]["tool"] == "notes_create"
    assert len(skipped[0]["detail"]["intent_hash"]) == 64
    other = await call_tool(env, token, "contacts_create", {"name": "Not trusted for this"})
    assert _status(other) == "confirmation_required"
    # a self-registered client calling the trusted tool is asked as usual
    _, tokens = await env.full_flow(scope="crm.read crm.write")
    assert _status(await call_tool(env, tokens["access_token"], "notes_create", note)) == "confirmation_required"


async def test_a_threshold_confirms_only_calls_above_it(env: Env) -> None:
    _, tokens = await env.full_flow(scope="crm.read crm.write")
    token = tokens["access_token"]
    small = await call_tool(env, token, "deals_update", {"id": "deal_1001", "amount": 500})
    assert small["isError"] is False and structured(small)["amount"] == 500
    before = acme_records(env)
    big = await call_tool(env, token, "deals_update", {"id": "deal_1001", "amount": 250_000})
    assert _status(big) == "confirmation_required"
    assert acme_records(env) == before


async def test_with_intents_disabled_writes_run_directly_and_advertise_nothing(tmp_path: Path) -> None:
    env = make_mcp_env(tmp_path, intents=False)
    async with env.app.router.lifespan_context(env.app):  # type: ignore[attr-defined]
        _, tokens = await env.full_flow(scope="crm.read crm.write")
        done = await call_tool(env, tokens["access_token"], "contacts_create", {"name": "Direct"})
        assert done["isError"] is False and structured(done)["name"] == "Direct"
        refused = await call_tool(env, tokens["access_token"], "contacts_create", {"name": "D", "_deputy_draft": "x"})
        assert refused["isError"] is True  # the reserved argument means nothing then: the schema refuses it
    assert events(env) == []
    env.ctx.store.db.dispose()
