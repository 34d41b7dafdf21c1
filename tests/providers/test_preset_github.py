"""The ``github`` preset against a fake GitHub: numeric user ids, errors with HTTP 200, rotating App tokens."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from fakes import fake_github
from fakes.fake_base import FakeProvider
from preset_support import CALLBACK, CLIENT_ID, CLIENT_SECRET, PresetEnv, preset_env, serve

from deputy.resource.upstream_api import ToolCallError

pytestmark = pytest.mark.anyio

SCOPES = {"repo.read": {"description": "Read your repositories", "upstream": ["repo"]}}


def _upstream(fake: FakeProvider) -> dict[str, Any]:
    return {
        "preset": "github",
        "authorize_url": fake.base_url + fake_github.AUTHORIZE,
        "token_url": fake.base_url + fake_github.TOKEN,
        "userinfo_url": fake.base_url + fake_github.USER,
    }


@pytest.fixture
def github() -> Iterator[FakeProvider]:
    with serve(fake_github.build, user=fake_github.OCTOCAT, prefix="ghu") as fake:
        yield fake


@pytest.fixture
async def env(tmp_path: Path, github: FakeProvider) -> AsyncIterator[PresetEnv]:
    async with preset_env(tmp_path, _upstream(github), SCOPES) as e:
        yield e


async def test_full_flow_stores_githubs_numeric_id_as_the_user(env: PresetEnv) -> None:
    _, tokens = await env.full_flow()
    assert tokens["token_type"] == "Bearer" and tokens["refresh_token"].startswith("dpr_")
    assert env.subjects() == [str(fake_github.OCTOCAT["id"])]


async def test_deputy_sends_what_github_documents(env: PresetEnv, github: FakeProvider) -> None:
    await env.full_flow()
    [authorize] = github.calls_to(fake_github.AUTHORIZE)
    assert set(authorize.params) == {
        "response_type", "client_id", "redirect_uri", "state", "scope", "code_challenge", "code_challenge_method",
    }  # fmt: skip
    assert authorize.params["redirect_uri"] == CALLBACK and authorize.params["scope"] == "repo"
    assert authorize.params["code_challenge_method"] == "S256"  # "resource" would name Deputy: never sent
    [token] = github.calls_to(fake_github.TOKEN)
    assert token.headers["accept"] == "application/json"  # otherwise GitHub answers form-encoded
    assert token.basic is None and token.params["client_secret"] == CLIENT_SECRET
    assert token.params["client_id"] == CLIENT_ID and len(token.params["code_verifier"]) >= 43
    [user] = github.calls_to(fake_github.USER)
    assert user.headers["accept"] == "application/vnd.github+json"
    assert user.headers["x-github-api-version"] == "2022-11-28"


async def test_operator_overrides_beat_the_preset_defaults(env: PresetEnv, github: FakeProvider) -> None:
    upstream = env.settings.upstream
    assert upstream.token_url == github.base_url + fake_github.TOKEN  # the operator's value
    assert upstream.token_auth_method == "client_secret_post" and upstream.user_id_claim == "id"  # the preset's
    assert upstream.api_base_url == "https://api.github.com"


async def test_app_tokens_rotate_and_deputy_presents_the_newest(env: PresetEnv, github: FakeProvider) -> None:
    await env.full_flow()
    [issued] = github.refresh_tokens
    subject = env.subjects()[0]
    first = await env.refresh_upstream(subject)
    second = await env.refresh_upstream(subject)
    presented = github.presented_refresh_tokens(fake_github.TOKEN)
    assert presented[0] == issued and presented[1] != issued  # the rotated token was stored and used
    assert first != second and {first, second} <= github.access


async def test_code_error_with_http_200_fails_the_flow_cleanly(env: PresetEnv, github: FakeProvider) -> None:
    github.reject_codes = True
    trip = await env.failed_flow()
    assert trip.params["error"] == "server_error" and trip.params["state"] == "s1"
    failed = [e for e in env.audit_events() if e["event"] == "callback.failed"]
    assert "bad_verification_code" in failed[0]["detail"]["reason"]
    assert env.subjects() == []


async def test_refused_refresh_token_asks_the_user_to_authorize_again(env: PresetEnv, github: FakeProvider) -> None:
    await env.full_flow()
    github.revoke_refresh_tokens()
    with pytest.raises(ToolCallError) as info:
        await env.refresh_upstream(env.subjects()[0])
    assert info.value.kind == "reauthorize"
    refused = [e for e in env.audit_events() if e["event"] == "broker.upstream_refresh_refused"]
    assert refused[0]["detail"]["error"] == "invalid_grant"  # GitHub's bad_refresh_token, translated


async def test_oauth_app_tokens_do_not_expire_and_are_never_refreshed(tmp_path: Path) -> None:
    """A GitHub OAuth App issues neither ``expires_in`` nor a refresh token: the broker uses the token as is."""
    with serve(fake_github.build, user=fake_github.OCTOCAT, refresh="none") as oauth_app:
        async with preset_env(tmp_path, _upstream(oauth_app), SCOPES) as env:
            await env.full_flow()
            token = await env.upstream_access_token(env.subjects()[0])
    assert token in oauth_app.access
    assert oauth_app.presented_refresh_tokens(fake_github.TOKEN) == []
