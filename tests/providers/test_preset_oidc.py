"""The generic ``oidc`` preset against a fake OpenID provider: everything from discovery, the issuer checked."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from fakes import fake_oidc
from fakes.fake_base import FakeProvider
from preset_support import CLIENT_ID, CLIENT_SECRET, RESOURCE, PresetEnv, preset_env, serve

pytestmark = pytest.mark.anyio

SCOPES = {"notes.read": {"description": "Read your notes", "upstream": ["notes:read"]}}


@pytest.fixture
def idp() -> Iterator[FakeProvider]:
    with serve(fake_oidc.build, user=fake_oidc.USER, refresh="reusable", prefix="idp") as fake:
        yield fake


@pytest.fixture
async def env(tmp_path: Path, idp: FakeProvider) -> AsyncIterator[PresetEnv]:
    async with preset_env(tmp_path, {"preset": "oidc", "issuer": idp.base_url}, SCOPES) as e:
        yield e


async def test_full_flow_with_only_the_issuer_configured(env: PresetEnv, idp: FakeProvider) -> None:
    await env.full_flow()
    assert env.subjects() == [fake_oidc.USER["sub"]]
    [authorize] = idp.calls_to(fake_oidc.AUTHORIZE)
    assert authorize.params["scope"] == "openid profile email notes:read"
    assert authorize.params["code_challenge_method"] == "S256" and "resource" not in authorize.params
    [token] = idp.calls_to(fake_oidc.TOKEN)
    assert token.basic == (CLIENT_ID, CLIENT_SECRET) and "code_verifier" in token.params


async def test_reusable_refresh_token_is_kept(env: PresetEnv, idp: FakeProvider) -> None:
    await env.full_flow()
    [issued] = idp.refresh_tokens
    subject = env.subjects()[0]
    await env.refresh_upstream(subject)
    await env.refresh_upstream(subject)
    assert idp.presented_refresh_tokens(fake_oidc.TOKEN) == [issued, issued]


async def test_resource_may_be_forwarded_when_the_operator_says_so(tmp_path: Path, idp: FakeProvider) -> None:
    upstream = {"preset": "oidc", "issuer": idp.base_url, "forward_resource": True}
    async with preset_env(tmp_path, upstream, SCOPES) as env:
        await env.full_flow()
    [authorize] = idp.calls_to(fake_oidc.AUTHORIZE)
    assert authorize.params["resource"] == RESOURCE


async def test_discovery_naming_another_issuer_is_refused(tmp_path: Path) -> None:
    """OIDC Discovery §4.3: the document must name the issuer it was fetched for, or it may be a mix-up."""
    with serve(fake_oidc.build, user=fake_oidc.USER, claimed_issuer="https://evil.example") as liar:
        async with preset_env(tmp_path, {"preset": "oidc", "issuer": liar.base_url}, SCOPES) as env:
            trip = await env.failed_flow()
    assert trip.kinds() == ["deputy.example-503"] and liar.calls == []
