"""The ``notion`` preset against a fake Notion: HTTP Basic with a JSON body, the user id inside the token response."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from fakes import fake_notion
from fakes.fake_base import FakeProvider
from preset_support import CALLBACK, CLIENT_ID, CLIENT_SECRET, PresetEnv, preset_env, serve

from deputy.resource.upstream_api import ToolCallError

pytestmark = pytest.mark.anyio

SCOPES = {"pages.read": {"description": "Read the pages you share", "upstream": []}}


def _upstream(fake: FakeProvider) -> dict[str, Any]:
    return {
        "preset": "notion",
        "authorize_url": fake.base_url + fake_notion.AUTHORIZE,
        "token_url": fake.base_url + fake_notion.TOKEN,
    }


@pytest.fixture
def notion() -> Iterator[FakeProvider]:
    with serve(fake_notion.build, user=fake_notion.OWNER, prefix="ntn") as fake:
        yield fake


@pytest.fixture
async def env(tmp_path: Path, notion: FakeProvider) -> AsyncIterator[PresetEnv]:
    async with preset_env(tmp_path, _upstream(notion), SCOPES) as e:
        yield e


async def test_full_flow_takes_the_user_from_the_token_response(env: PresetEnv, notion: FakeProvider) -> None:
    await env.full_flow()
    assert env.subjects() == [fake_notion.OWNER["id"]]
    assert {c.path for c in notion.calls} == {fake_notion.AUTHORIZE, fake_notion.TOKEN}  # no userinfo call


async def test_deputy_sends_basic_auth_and_a_json_body(env: PresetEnv, notion: FakeProvider) -> None:
    await env.full_flow()
    [authorize] = notion.calls_to(fake_notion.AUTHORIZE)
    assert authorize.params["owner"] == "user" and authorize.params["redirect_uri"] == CALLBACK
    assert "scope" not in authorize.params and "code_challenge" not in authorize.params  # no scopes, no PKCE
    assert "resource" not in authorize.params
    [token] = notion.calls_to(fake_notion.TOKEN)
    assert token.content_type == "application/json" and token.basic == (CLIENT_ID, CLIENT_SECRET)
    assert set(token.params) == {"grant_type", "code", "redirect_uri"}


async def test_refresh_rotates_and_deputy_presents_the_newest(env: PresetEnv, notion: FakeProvider) -> None:
    await env.full_flow()
    [issued] = notion.refresh_tokens
    subject = env.subjects()[0]
    await env.refresh_upstream(subject)
    await env.refresh_upstream(subject)
    presented = notion.presented_refresh_tokens(fake_notion.TOKEN)
    assert presented[0] == issued and presented[1] != issued
    [refresh] = [c for c in notion.calls_to(fake_notion.TOKEN) if c.params.get("refresh_token") == issued]
    assert refresh.content_type == "application/json" and refresh.basic == (CLIENT_ID, CLIENT_SECRET)


async def test_notion_error_object_fails_the_flow_cleanly(env: PresetEnv, notion: FakeProvider) -> None:
    notion.reject_codes = True
    trip = await env.failed_flow()
    assert trip.params["error"] == "server_error"
    failed = [e for e in env.audit_events() if e["event"] == "callback.failed"]
    assert failed[0]["detail"]["reason"] == "upstream token endpoint refused (400, invalid_grant)"


async def test_refused_refresh_token_asks_the_user_to_authorize_again(env: PresetEnv, notion: FakeProvider) -> None:
    await env.full_flow()
    notion.revoke_refresh_tokens()
    with pytest.raises(ToolCallError) as info:
        await env.refresh_upstream(env.subjects()[0])
    assert info.value.kind == "reauthorize"
    refused = [e for e in env.audit_events() if e["event"] == "broker.upstream_refresh_refused"]
    assert refused[0]["detail"]["error"] == "invalid_grant"  # read from Notion's "code" field
