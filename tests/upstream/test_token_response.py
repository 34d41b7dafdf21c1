"""Upstream token responses are parsed defensively: a trusted upstream can still be buggy."""

from __future__ import annotations

import httpx
import pytest

from deputy.upstream.client import UpstreamError, _parse_token_response


def _resp(body: bytes, status: int = 200) -> httpx.Response:
    return httpx.Response(status, content=body, headers={"content-type": "application/json"})


@pytest.mark.parametrize("raw", [b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-5", b"0", b"true", b'"3600"', b"1e12"])
def test_unusable_expires_in_is_treated_as_unknown(raw: bytes) -> None:
    parsed = _parse_token_response(_resp(b'{"access_token": "a", "expires_in": ' + raw + b"}"))
    assert parsed.expires_in is None


def test_sane_expires_in_is_kept() -> None:
    assert _parse_token_response(_resp(b'{"access_token": "a", "expires_in": 3599.9}')).expires_in == 3599


@pytest.mark.parametrize("body", [b"[]", b"not json", b'{"token_type": "bearer"}', b'{"access_token": 5}'])
def test_malformed_token_response_is_an_upstream_error(body: bytes) -> None:
    with pytest.raises(UpstreamError):
        _parse_token_response(_resp(body))


def test_upstream_error_code_is_kept_but_not_its_text() -> None:
    with pytest.raises(UpstreamError) as info:
        _parse_token_response(_resp(b'{"error": "invalid_grant", "error_description": "token acme_rt_x"}', 400))
    assert info.value.error == "invalid_grant" and "acme_rt_x" not in str(info.value)
