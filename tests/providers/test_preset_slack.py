"""The ``slack`` preset against a fake Slack: user scopes, ``authed_user`` nesting, ``{"ok": false}`` errors."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from fakes import fake_slack
from fakes.fake_base import FakeProvider
from preset_support import CLIENT_ID, CLIENT_SECRET, PresetEnv, preset_env, serve

from deputy.resource.upstream_api import ToolCallError

pytestmark = pytest.mark.anyio

SCOPES = {"chat.write": {"description": "Send messages as you", "upstream": ["chat:write", "channels:read"]}}


def _upstream(fake: FakeProvider, **extra: Any) -> dict[str, Any]:
    return {
        "preset": "slack",
        "authorize_url": fake.base_url + fake_slack.AUTHORIZE,
        "token_url": fake.base_url + fake_slack.TOKEN,
        **extra,
    }


@pytest.fixture
def slack() -> Iterator[FakeProvider]:
    with serve(fake_slack.build, user={"id": fake_slack.USER_ID}, prefix="xoxe.xoxp") as fake:
        yield fake


@pytest.fixture
async def env(tmp_path: Path, slack: FakeProvider) -> AsyncIterator[PresetEnv]:
    async with preset_env(tmp_path, _upstream(slack), SCOPES) as e:
        yield e


async def test_full_flow_takes_the_user_from_authed_user(env: PresetEnv, slack: FakeProvider) -> None:
    await env.full_flow()
    assert env.subjects() == [fake_slack.USER_ID]
    assert {c.path for c in slack.calls} == {fake_slack.AUTHORIZE, fake_slack.TOKEN}


async def test_deputy_asks_for_user_scopes_with_basic_auth(env: PresetEnv, slack: FakeProvider) -> None:
    await env.full_flow()
    [authorize] = slack.calls_to(fake_slack.AUTHORIZE)
    assert authorize.params["user_scope"] == "chat:write,channels:read" and "scope" not in authorize.params
    assert authorize.params["code_challenge_method"] == "S256" and "resource" not in authorize.params
    [token] = slack.calls_to(fake_slack.TOKEN)
    assert token.basic == (CLIENT_ID, CLIENT_SECRET) and "client_secret" not in token.params


async def test_the_user_token_is_kept_even_when_a_bot_token_comes_too(tmp_path: Path, slack: FakeProvider) -> None:
    upstream = _upstream(slack, extra_authorize_params={"scope": "commands"})
    async with preset_env(tmp_path, upstream, SCOPES) as env:
        await env.full_flow()
        token = await env.upstream_access_token(fake_slack.USER_ID)
    assert token.startswith("xoxe.xoxp_at_") and token != fake_slack.BOT_TOKEN


async def test_rotation_stores_each_new_refresh_token(env: PresetEnv, slack: FakeProvider) -> None:
    await env.full_flow()
    [issued] = slack.refresh_tokens
    await env.refresh_upstream(fake_slack.USER_ID)
    second = await env.refresh_upstream(fake_slack.USER_ID)
    presented = slack.presented_refresh_tokens(fake_slack.TOKEN)
    assert presented[0] == issued and presented[1] != issued and second in slack.access


async def test_ok_false_with_http_200_fails_the_flow_cleanly(env: PresetEnv, slack: FakeProvider) -> None:
    slack.reject_codes = True
    trip = await env.failed_flow()
    assert trip.params["error"] == "server_error"
    failed = [e for e in env.audit_events() if e["event"] == "callback.failed"]
    assert failed[0]["detail"]["reason"] == "upstream token endpoint refused (200, invalid_code)"
    assert env.subjects() == []


async def test_revoked_refresh_token_asks_the_user_to_authorize_again(env: PresetEnv, slack: FakeProvider) -> None:
    await env.full_flow()
    slack.revoke_refresh_tokens()
    with pytest.raises(ToolCallError) as info:
        await env.refresh_upstream(fake_slack.USER_ID)
    assert info.value.kind == "reauthorize"
    refused = [e for e in env.audit_events() if e["event"] == "broker.upstream_refresh_refused"]
    assert refused[0]["detail"]["error"] == "invalid_grant"  # Slack's invalid_refresh_token, translated
