"""The ``google`` preset against a fake Google: offline access, RFC 9207 ``iss``, refresh tokens that do not rotate."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from fakes import fake_google
from fakes.fake_base import FakeProvider
from preset_support import CALLBACK, CLIENT_SECRET, PresetEnv, preset_env, serve

from deputy.resource.upstream_api import ToolCallError

pytestmark = pytest.mark.anyio

SCOPES = {
    "drive.read": {
        "description": "Read your Drive files",
        "upstream": ["https://www.googleapis.com/auth/drive.readonly"],
    }
}


def _upstream(fake: FakeProvider, **extra: Any) -> dict[str, Any]:
    return {
        "preset": "google",
        "authorize_url": fake.base_url + fake_google.AUTHORIZE,
        "token_url": fake.base_url + fake_google.TOKEN,
        "userinfo_url": fake.base_url + fake_google.USERINFO,
        **extra,
    }


@pytest.fixture
def google() -> Iterator[FakeProvider]:
    with serve(fake_google.build, user=fake_google.USER, refresh="reusable", prefix="ya29") as fake:
        yield fake


@pytest.fixture
async def env(tmp_path: Path, google: FakeProvider) -> AsyncIterator[PresetEnv]:
    async with preset_env(tmp_path, _upstream(google), SCOPES) as e:
        yield e


async def test_full_flow_stores_the_oidc_sub_as_the_user(env: PresetEnv) -> None:
    _, tokens = await env.full_flow()
    assert tokens["access_token"]
    assert env.subjects() == [fake_google.USER["sub"]]


async def test_deputy_asks_for_offline_access_with_pkce_and_no_resource(env: PresetEnv, google: FakeProvider) -> None:
    await env.full_flow()
    [authorize] = google.calls_to(fake_google.AUTHORIZE)
    params = authorize.params
    assert params["access_type"] == "offline" and params["prompt"] == "consent"
    assert params["scope"] == "openid email profile https://www.googleapis.com/auth/drive.readonly"
    assert params["code_challenge_method"] == "S256" and params["redirect_uri"] == CALLBACK
    assert "resource" not in params
    [token] = google.calls_to(fake_google.TOKEN)
    assert token.content_type == "application/x-www-form-urlencoded" and token.basic is None
    assert token.params["client_secret"] == CLIENT_SECRET and "code_verifier" in token.params


async def test_refresh_token_does_not_rotate_and_deputy_keeps_the_first(env: PresetEnv, google: FakeProvider) -> None:
    await env.full_flow()
    [issued] = google.refresh_tokens
    subject = env.subjects()[0]
    first = await env.refresh_upstream(subject)
    second = await env.refresh_upstream(subject)
    assert google.presented_refresh_tokens(fake_google.TOKEN) == [issued, issued]
    assert first != second and {first, second} <= google.access


async def test_callback_iss_from_another_issuer_is_refused(tmp_path: Path, google: FakeProvider) -> None:
    """Google sends ``iss`` (RFC 9207); an operator who points the issuer elsewhere gets a mix-up refusal."""
    async with preset_env(tmp_path, _upstream(google, issuer="https://accounts.example"), SCOPES) as env:
        trip = await env.failed_flow()
        assert trip.landed is None and trip.kinds()[-1] == "deputy.example-403"
        assert google.calls_to(fake_google.TOKEN) == []  # the code was never redeemed


async def test_invalid_grant_on_the_code_fails_the_flow_cleanly(env: PresetEnv, google: FakeProvider) -> None:
    google.reject_codes = True
    trip = await env.failed_flow()
    assert trip.params["error"] == "server_error"
    failed = [e for e in env.audit_events() if e["event"] == "callback.failed"]
    assert "invalid_grant" in failed[0]["detail"]["reason"]


async def test_revoked_refresh_token_asks_the_user_to_authorize_again(env: PresetEnv, google: FakeProvider) -> None:
    await env.full_flow()
    google.revoke_refresh_tokens()
    with pytest.raises(ToolCallError) as info:
        await env.refresh_upstream(env.subjects()[0])
    assert info.value.kind == "reauthorize"
