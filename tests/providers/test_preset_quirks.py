"""The preset strategies on their own: token responses as each provider shapes them, and the authorize URL."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from deputy.config import UpstreamSettings
from deputy.upstream.client import (
    UpstreamClient,
    UpstreamEndpoints,
    UpstreamError,
    _parse_provider_token_response,
    _parse_token_response,
)
from deputy.upstream.presets import PRESETS, quirks_for

GITHUB, SLACK, NOTION = PRESETS["github"].quirks, PRESETS["slack"].quirks, PRESETS["notion"].quirks


def _json(body: dict[str, Any], status: int = 200) -> httpx.Response:
    return httpx.Response(status, content=json.dumps(body).encode(), headers={"content-type": "application/json"})


def test_github_form_encoded_answer_is_read() -> None:
    body = b"access_token=gho_16C7e42F292c6912E7710c838347Ae178B4a&expires_in=28800&scope=repo%2Cgist&token_type=bearer"
    resp = httpx.Response(200, content=body, headers={"content-type": "application/x-www-form-urlencoded"})
    tokens = _parse_provider_token_response(resp, GITHUB)
    assert tokens.access_token.startswith("gho_") and tokens.expires_in == 28800 and tokens.scope == "repo,gist"


def test_github_error_with_http_200_is_an_error_without_its_description() -> None:
    secretish = "The code passed is incorrect or expired. gho_leaked"
    with pytest.raises(UpstreamError) as info:
        _parse_provider_token_response(
            _json({"error": "bad_verification_code", "error_description": secretish}), GITHUB
        )
    assert info.value.error == "invalid_grant" and not info.value.unavailable
    assert "bad_verification_code" in str(info.value) and "gho_leaked" not in str(info.value)


def test_github_error_code_that_is_not_a_code_is_not_logged_verbatim() -> None:
    with pytest.raises(UpstreamError) as info:
        _parse_provider_token_response(_json({"error": "<script>alert(1)</script>"}), GITHUB)
    assert "script" not in str(info.value) and info.value.error == "unrecognised"


def test_slack_ok_false_is_an_error_and_ratelimited_means_later() -> None:
    with pytest.raises(UpstreamError) as refused:
        _parse_provider_token_response(_json({"ok": False, "error": "invalid_code"}), SLACK)
    assert refused.value.error == "invalid_grant" and not refused.value.unavailable
    with pytest.raises(UpstreamError) as later:
        _parse_provider_token_response(_json({"ok": False, "error": "ratelimited"}), SLACK)
    assert later.value.unavailable


def test_slack_bot_token_is_never_taken_for_the_users() -> None:
    bot_only = {"ok": True, "access_token": "xoxb-bot", "token_type": "bot", "scope": "commands", "team": {"id": "T1"}}
    with pytest.raises(UpstreamError):
        _parse_provider_token_response(_json(bot_only), SLACK)
    no_user_token = {**bot_only, "authed_user": {"id": "U1"}}
    with pytest.raises(UpstreamError):
        _parse_provider_token_response(_json(no_user_token), SLACK)


def test_slack_user_token_nested_and_refreshed() -> None:
    user = {"id": "U1", "access_token": "xoxp-user", "refresh_token": "xoxe-1", "expires_in": 43200}
    installed = {"ok": True, "access_token": "xoxb-bot", "token_type": "bot", "authed_user": user}
    tokens = _parse_provider_token_response(_json(installed), SLACK)
    assert (tokens.access_token, tokens.refresh_token, tokens.expires_in) == ("xoxp-user", "xoxe-1", 43200)
    assert tokens.raw["authed_user"]["id"] == "U1"
    refreshed = {"ok": True, "access_token": "xoxe.xoxp-2", "refresh_token": "xoxe-2", "token_type": "user"}
    assert _parse_provider_token_response(_json(refreshed), SLACK).refresh_token == "xoxe-2"


def test_notion_error_code_is_read_from_code() -> None:
    body = {"object": "error", "status": 400, "code": "invalid_grant", "message": "Invalid code: ntn_secret"}
    with pytest.raises(UpstreamError) as info:
        _parse_provider_token_response(_json(body, 400), NOTION)
    assert info.value.error == "invalid_grant" and "ntn_secret" not in str(info.value)


def test_plain_oauth2_parsing_is_unchanged_by_presets() -> None:
    with pytest.raises(UpstreamError) as info:  # a 200 carrying "error" is not special without a preset
        _parse_token_response(_json({"error": "bad_verification_code"}))
    assert info.value.error == "server_error" and "no access_token" in str(info.value)
    assert quirks_for(None) == quirks_for("google") == quirks_for("nonexistent")


def _client(**upstream: Any) -> UpstreamClient:
    settings = UpstreamSettings(client_id="c", client_secret="s", **upstream)
    endpoints = UpstreamEndpoints(
        settings.authorize_url or "", settings.token_url or "", settings.userinfo_url, None, None
    )
    return UpstreamClient(settings, endpoints, callback_url="https://deputy.example/callback", http=httpx.AsyncClient())


def test_authorize_url_without_a_preset_is_plain_rfc_6749() -> None:
    client = _client(authorize_url="https://up.example/a?tenant=x", token_url="https://up.example/t",
                     userinfo_url="https://up.example/u")  # fmt: skip
    url = client.authorize_url(
        state="st", scopes=("a", "b"), code_challenge="ch", resource="https://deputy.example/mcp"
    )
    assert url == (
        "https://up.example/a?tenant=x&response_type=code&client_id=c"
        "&redirect_uri=https%3A%2F%2Fdeputy.example%2Fcallback&state=st&scope=a+b"
        "&code_challenge=ch&code_challenge_method=S256"
    )


def test_authorize_url_for_slack_puts_comma_separated_user_scopes() -> None:
    url = _client(preset="slack").authorize_url(state="st", scopes=("chat:write", "users:read"), code_challenge=None,
                                                resource="https://deputy.example/mcp")  # fmt: skip
    assert "user_scope=chat%3Awrite%2Cusers%3Aread" in url and "&scope=" not in url and "resource" not in url
