"""The ``linear`` preset against a fake Linear: comma-separated scopes, a GraphQL identity, rotating refresh."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from fakes import fake_linear
from fakes.fake_base import FakeProvider
from preset_support import CLIENT_SECRET, PresetEnv, preset_env, serve

pytestmark = pytest.mark.anyio

SCOPES = {"issues.write": {"description": "Create and update your issues", "upstream": ["write"]}}


def _upstream(fake: FakeProvider) -> dict[str, Any]:
    return {
        "preset": "linear",
        "authorize_url": fake.base_url + fake_linear.AUTHORIZE,
        "token_url": fake.base_url + fake_linear.TOKEN,
        "userinfo_url": fake.base_url + fake_linear.GRAPHQL,
    }


@pytest.fixture
def linear() -> Iterator[FakeProvider]:
    with serve(fake_linear.build, user=fake_linear.VIEWER, prefix="lin_oauth") as fake:
        yield fake


@pytest.fixture
async def env(tmp_path: Path, linear: FakeProvider) -> AsyncIterator[PresetEnv]:
    async with preset_env(tmp_path, _upstream(linear), SCOPES) as e:
        yield e


async def test_full_flow_identifies_the_viewer_over_graphql(env: PresetEnv, linear: FakeProvider) -> None:
    await env.full_flow()
    assert env.subjects() == [fake_linear.VIEWER["id"]]
    [query] = linear.calls_to(fake_linear.GRAPHQL)
    assert query.content_type == "application/json" and "viewer" in query.params["query"]
    assert query.headers["authorization"].startswith("Bearer lin_oauth_at_")


async def test_deputy_sends_comma_separated_scopes_with_pkce(env: PresetEnv, linear: FakeProvider) -> None:
    await env.full_flow()
    [authorize] = linear.calls_to(fake_linear.AUTHORIZE)
    assert authorize.params["scope"] == "read,write"
    assert authorize.params["code_challenge_method"] == "S256" and "resource" not in authorize.params
    [token] = linear.calls_to(fake_linear.TOKEN)
    assert token.content_type == "application/x-www-form-urlencoded"
    assert token.params["client_secret"] == CLIENT_SECRET and "code_verifier" in token.params


async def test_refresh_rotates_and_deputy_presents_the_newest(env: PresetEnv, linear: FakeProvider) -> None:
    await env.full_flow()
    [issued] = linear.refresh_tokens
    subject = env.subjects()[0]
    await env.refresh_upstream(subject)
    await env.refresh_upstream(subject)
    presented = linear.presented_refresh_tokens(fake_linear.TOKEN)
    assert presented[0] == issued and presented[1] != issued
    assert issued not in linear.refresh_tokens  # the old one is dead: only storing the new one keeps access


async def test_graphql_authentication_error_fails_the_flow_cleanly(env: PresetEnv, linear: FakeProvider) -> None:
    linear.reject_bearer = True
    trip = await env.failed_flow()
    assert trip.params["error"] == "server_error"
    assert env.subjects() == []  # no user without an identity


async def test_invalid_grant_on_the_code_fails_the_flow_cleanly(env: PresetEnv, linear: FakeProvider) -> None:
    linear.reject_codes = True
    trip = await env.failed_flow()
    assert trip.params["error"] == "server_error" and linear.calls_to(fake_linear.GRAPHQL) == []
