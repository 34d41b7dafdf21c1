"""Presets in configuration: defaults merged under the operator's keys, completions required and named."""

from __future__ import annotations

from pathlib import Path
from typing import Any, get_args

import pytest

from deputy.config import UpstreamSettings, load_settings
from deputy.errors import ConfigError
from deputy.upstream.presets import PRESET_NAMES, PRESETS, PresetName

SCOPES = {"read": {"description": "Read", "upstream": ["read"]}}
COMPLETIONS: dict[str, dict[str, str]] = {"microsoft": {"tenant": "common"}, "oidc": {"issuer": "https://idp.example"}}


def _load(**upstream: Any) -> UpstreamSettings:
    return load_settings(None, overrides={"upstream": upstream, "scopes": SCOPES}).upstream


def _complete(name: str, **extra: Any) -> UpstreamSettings:
    return _load(preset=name, client_id="c", client_secret="s", **{**COMPLETIONS.get(name, {}), **extra})


def _refusal(**upstream: Any) -> str:
    with pytest.raises(ConfigError) as info:
        _load(**upstream)
    return str(info.value)


def test_the_preset_names_are_the_settings_choices() -> None:
    assert set(PRESET_NAMES) == set(get_args(PresetName)) == {
        "github", "google", "microsoft", "notion", "linear", "slack", "atlassian", "oidc",
    }  # fmt: skip


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_each_preset_completes_the_settings(name: str) -> None:
    upstream = _complete(name)
    preset = PRESETS[name]
    assert upstream.discovery_url or (upstream.authorize_url and upstream.token_url)
    assert upstream.user_id_from == "token_response" or upstream.userinfo_url or upstream.discovery_url
    assert upstream.forward_resource is False
    assert all(url.startswith("https://") for url in preset.docs)
    assert upstream.client_secret is not None and upstream.client_secret.get_secret_value() == "s"


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_each_preset_needs_a_client_secret(name: str) -> None:
    message = _refusal(preset=name, client_id="c", **COMPLETIONS.get(name, {}))
    assert "upstream.client_secret" in message and name in message


def test_explicit_keys_win_and_tables_merge_key_by_key() -> None:
    upstream = _complete(
        "google",
        scopes=["openid"],
        user_name_claim="email",
        extra_authorize_params={"prompt": "select_account consent", "login_hint": "ada@example.com"},
    )
    assert upstream.scopes == ("openid",) and upstream.user_name_claim == "email"
    assert upstream.extra_authorize_params == {
        "access_type": "offline", "prompt": "select_account consent", "login_hint": "ada@example.com",
    }  # fmt: skip
    assert upstream.token_url == "https://oauth2.googleapis.com/token"  # not overridden: the preset's


def test_the_environment_can_choose_a_preset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPUTY_UPSTREAM__PRESET", "linear")
    monkeypatch.setenv("DEPUTY_UPSTREAM__CLIENT_SECRET", "from-env")
    upstream = _load(client_id="c")
    assert upstream.authorize_url == "https://linear.app/oauth/authorize" and upstream.scope_separator == ","


def test_microsoft_needs_a_well_formed_tenant() -> None:
    assert "upstream.tenant" in _refusal(preset="microsoft", client_id="c", client_secret="s")
    for bad in ("contoso/../evil", "a b", "x?y=1", "@evil.example", "a#b"):
        assert "upstream.tenant" in _refusal(preset="microsoft", client_id="c", client_secret="s", tenant=bad)
    tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"
    upstream = _complete("microsoft", tenant=tenant)
    assert upstream.token_url == f"https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"


def test_oidc_needs_an_https_issuer_and_discovers_from_it() -> None:
    assert "upstream.issuer" in _refusal(preset="oidc", client_id="c", client_secret="s")
    for bad in ("http://idp.example", "https://idp.example?x=1", "https://user@idp.example", "idp.example"):
        assert "upstream.issuer" in _refusal(preset="oidc", client_id="c", client_secret="s", issuer=bad)
    upstream = _complete("oidc", issuer="https://idp.example/realms/acme/")
    assert upstream.discovery_url == "https://idp.example/realms/acme/.well-known/openid-configuration"


@pytest.mark.parametrize("name", [n for n in PRESET_NAMES if PRESETS[n].omit_resource])
def test_forwarding_resource_is_refused_where_the_provider_rejects_it(name: str) -> None:
    with pytest.raises(ConfigError) as info:
        _complete(name, forward_resource=True)
    assert "upstream.forward_resource" in str(info.value)


def test_oidc_may_forward_resource() -> None:
    assert _complete("oidc", forward_resource=True).forward_resource is True


def test_unknown_preset_is_named() -> None:
    assert "configuration key upstream.preset" in _refusal(preset="gitlab", client_id="c", client_secret="s")


def test_without_a_preset_nothing_is_added() -> None:
    upstream = _load(client_id="c", authorize_url="https://up.example/a", token_url="https://up.example/t",
                     userinfo_url="https://up.example/u")  # fmt: skip
    assert upstream.preset is None and upstream.tenant is None and upstream.scope_separator == " "
    assert upstream.scopes == () and upstream.extra_authorize_params == {} and upstream.api_base_url is None
    assert upstream.token_auth_method == "client_secret_basic" and upstream.user_id_claim == "sub"
