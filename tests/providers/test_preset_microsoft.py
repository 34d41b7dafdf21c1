"""The ``microsoft`` preset against a fake Entra ID + Graph: tenant endpoints, no ``resource``, rotating refresh."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from fakes import fake_microsoft
from fakes.fake_base import FakeProvider
from preset_support import CLIENT_ID, CLIENT_SECRET, PresetEnv, preset_env, serve

from deputy.config import load_settings
from deputy.errors import ConfigError

pytestmark = pytest.mark.anyio

SCOPES = {"mail.read": {"description": "Read your mail", "upstream": ["Mail.Read"]}}


def _upstream(fake: FakeProvider, **extra: Any) -> dict[str, Any]:
    return {
        "preset": "microsoft",
        "tenant": fake_microsoft.TENANT,
        "authorize_url": fake.base_url + fake_microsoft.AUTHORIZE,
        "token_url": fake.base_url + fake_microsoft.TOKEN,
        "userinfo_url": fake.base_url + fake_microsoft.ME,
        **extra,
    }


@pytest.fixture
def entra() -> Iterator[FakeProvider]:
    with serve(fake_microsoft.build, user=fake_microsoft.USER, refresh="rotating_keep_old", prefix="eyJ0") as fake:
        yield fake


@pytest.fixture
async def env(tmp_path: Path, entra: FakeProvider) -> AsyncIterator[PresetEnv]:
    async with preset_env(tmp_path, _upstream(entra), SCOPES) as e:
        yield e


async def test_full_flow_stores_the_graph_object_id_as_the_user(env: PresetEnv) -> None:
    await env.full_flow()
    assert env.subjects() == [fake_microsoft.USER["id"]]


async def test_deputy_sends_scopes_and_pkce_but_never_resource(env: PresetEnv, entra: FakeProvider) -> None:
    await env.full_flow()
    [authorize] = entra.calls_to(fake_microsoft.AUTHORIZE)
    assert authorize.params["scope"] == "openid profile offline_access User.Read Mail.Read"
    assert authorize.params["code_challenge_method"] == "S256" and "resource" not in authorize.params
    [token] = entra.calls_to(fake_microsoft.TOKEN)
    assert token.params["client_secret"] == CLIENT_SECRET and token.params["client_id"] == CLIENT_ID
    assert "resource" not in token.params and "code_verifier" in token.params


def test_tenant_completes_the_endpoints(tmp_path: Path) -> None:
    upstream = {"preset": "microsoft", "tenant": "organizations", "client_id": "c", "client_secret": "s"}
    settings = load_settings(None, overrides={"upstream": upstream, "scopes": SCOPES})
    assert settings.upstream.authorize_url == "https://login.microsoftonline.com/organizations/oauth2/v2.0/authorize"
    assert settings.upstream.token_url == "https://login.microsoftonline.com/organizations/oauth2/v2.0/token"
    assert settings.upstream.userinfo_url == "https://graph.microsoft.com/v1.0/me"


async def test_each_refresh_stores_the_new_refresh_token(env: PresetEnv, entra: FakeProvider) -> None:
    await env.full_flow()
    [issued] = entra.refresh_tokens
    subject = env.subjects()[0]
    await env.refresh_upstream(subject)
    await env.refresh_upstream(subject)
    presented = entra.presented_refresh_tokens(fake_microsoft.TOKEN)
    assert presented[0] == issued and presented[1] not in (issued, None)
    assert issued in entra.refresh_tokens  # Entra does not revoke the old one; Deputy discarded it anyway


async def test_forwarding_resource_is_refused_by_entra_and_by_the_preset(tmp_path: Path, entra: FakeProvider) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(None, overrides={"upstream": {**_upstream(entra), "client_id": "c", "client_secret": "s",
                                                    "forward_resource": True}, "scopes": SCOPES})  # fmt: skip
    assert "upstream.forward_resource" in str(info.value)
    # Without the preset's guard, Entra itself refuses: AADSTS9010010 on the authorize request.
    bare = {k: v for k, v in _upstream(entra).items() if k not in ("preset", "tenant")}
    async with preset_env(tmp_path, {**bare, "forward_resource": True}, SCOPES) as env:
        trip = await env.failed_flow()
    assert trip.kinds()[-1] == "127.0.0.1-400" and entra.calls_to(fake_microsoft.TOKEN) == []


async def test_aadsts_error_on_the_code_fails_the_flow_cleanly(env: PresetEnv, entra: FakeProvider) -> None:
    entra.reject_codes = True
    trip = await env.failed_flow()
    assert trip.params["error"] == "server_error"
    failed = [e for e in env.audit_events() if e["event"] == "callback.failed"]
    assert "invalid_grant" in failed[0]["detail"]["reason"] and "AADSTS" not in failed[0]["detail"]["reason"]
