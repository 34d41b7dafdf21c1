"""The ``atlassian`` preset against a fake Atlassian 3LO: audience and consent, JSON token bodies, rotation."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from fakes import fake_atlassian
from fakes.fake_base import FakeProvider
from preset_support import CALLBACK, CLIENT_ID, CLIENT_SECRET, PresetEnv, preset_env, serve

from deputy.resource.upstream_api import ToolCallError

pytestmark = pytest.mark.anyio

SCOPES = {"jira.read": {"description": "Read your Jira issues", "upstream": ["read:jira-work"]}}


def _upstream(fake: FakeProvider) -> dict[str, Any]:
    return {
        "preset": "atlassian",
        "authorize_url": fake.base_url + fake_atlassian.AUTHORIZE,
        "token_url": fake.base_url + fake_atlassian.TOKEN,
        "userinfo_url": fake.base_url + fake_atlassian.ME,
    }


@pytest.fixture
def atlassian() -> Iterator[FakeProvider]:
    with serve(fake_atlassian.build, user=fake_atlassian.USER, prefix="atl") as fake:
        yield fake


@pytest.fixture
async def env(tmp_path: Path, atlassian: FakeProvider) -> AsyncIterator[PresetEnv]:
    async with preset_env(tmp_path, _upstream(atlassian), SCOPES) as e:
        yield e


async def test_full_flow_stores_the_account_id_as_the_user(env: PresetEnv) -> None:
    await env.full_flow()
    assert env.subjects() == [fake_atlassian.USER["account_id"]]


async def test_deputy_sends_audience_consent_and_a_json_token_body(env: PresetEnv, atlassian: FakeProvider) -> None:
    await env.full_flow()
    [authorize] = atlassian.calls_to(fake_atlassian.AUTHORIZE)
    params = authorize.params
    assert params["audience"] == "api.atlassian.com" and params["prompt"] == "consent"
    assert params["scope"] == "read:me offline_access read:jira-work"
    assert "code_challenge" not in params and "resource" not in params
    [token] = atlassian.calls_to(fake_atlassian.TOKEN)
    assert token.content_type == "application/json" and token.basic is None
    assert token.params == {
        "grant_type": "authorization_code", "code": token.params["code"], "redirect_uri": CALLBACK,
        "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
    }  # fmt: skip


async def test_rotating_refresh_tokens_are_stored_each_time(env: PresetEnv, atlassian: FakeProvider) -> None:
    await env.full_flow()
    [issued] = atlassian.refresh_tokens
    subject = env.subjects()[0]
    await env.refresh_upstream(subject)
    await env.refresh_upstream(subject)
    presented = atlassian.presented_refresh_tokens(fake_atlassian.TOKEN)
    assert presented[0] == issued and presented[1] != issued and issued not in atlassian.refresh_tokens


async def test_403_invalid_grant_on_refresh_asks_to_authorize_again(env: PresetEnv, atlassian: FakeProvider) -> None:
    await env.full_flow()
    atlassian.revoke_refresh_tokens()
    with pytest.raises(ToolCallError) as info:
        await env.refresh_upstream(env.subjects()[0])
    assert info.value.kind == "reauthorize"
    refused = [e for e in env.audit_events() if e["event"] == "broker.upstream_refresh_refused"]
    assert refused[0]["detail"]["error"] == "invalid_grant"


async def test_refused_code_fails_the_flow_cleanly(env: PresetEnv, atlassian: FakeProvider) -> None:
    atlassian.reject_codes = True
    trip = await env.failed_flow()
    assert trip.params["error"] == "server_error" and env.subjects() == []
