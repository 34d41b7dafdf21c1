"""Log lines: one JSON object each, with the request id inside a request, and nothing token-like left in them."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import Any

import pytest

from deputy.logs import REDACTED, is_secret_key, redact, redact_text

JWT = "eyJhbGciOiJFUzI1NiIsInR5cCI6ImF0K2p3dCJ9.eyJzdWIiOiJ1c3JfMSJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
CODE = "dpc_" + "Qx7-fZ" * 7
REFRESH = "dpr_" + "a1B2c3D4" * 5
CLIENT_SECRET = "dps_" + "Zz9_Yy8-" * 5
SHA256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
UPSTREAM = "acme_at_" + "kP3vR8sT1uW6xY0zA2bC4dE6fG8hJ0kL"


@pytest.mark.parametrize(
    ("secret", "line"),
    [
        (JWT, f"token {JWT} rejected"),
        (CODE, f"redeeming {CODE} failed"),
        (REFRESH, f"refresh token {REFRESH} reused"),
        (CLIENT_SECRET, f"client authenticated with {CLIENT_SECRET}"),
        (UPSTREAM, f"upstream answered 401 to {UPSTREAM}"),
        ("opaque-credential-123", "Authorization: Bearer opaque-credential-123"),
        ("dXNlcjpwYXNz", "Authorization: Basic dXNlcjpwYXNz"),
        ("short-code-1", "GET /callback?code=short-code-1&state=s1"),
        ("hunter2", 'body {"client_secret": "hunter2", "grant_type": "refresh_token"}'),
        ("p@ss", "login password=p@ss failed"),
        ("sess-abc", "Set-Cookie: __Host-deputy_flow=sess-abc; Path=/; Secure"),
        (SHA256, f"hash {SHA256}"),
        ("AbCdEfGhIjKlMnOpQrStUvWxYz0123456789", "opaque AbCdEfGhIjKlMnOpQrStUvWxYz0123456789 seen"),
    ],
)  # fmt: skip
def test_secrets_are_removed_from_text(secret: str, line: str) -> None:
    cleaned = redact_text(line)
    assert secret not in cleaned
    assert REDACTED in cleaned


@pytest.mark.parametrize(
    "line",
    [
        "tool contacts_list called for deals_update_stage_and_notify_owner_v2",
        "GET /.well-known/oauth-protected-resource/mcp 200",
        "POST /api/v1/contacts/42/notes answered 201",
        "client dcl_Xy3kP9mQ2wE5rT8uI1oL4aSd registered",
        "client https://app.example/oauth/client.json fetched",
        "request 123e4567-e89b-12d3-a456-426614174000 took 12 ms, status_code=400",
        "user usr_3f2a9c1d8e7b6a5f4e3d2c1b consented to crm.read",
        "token_type=Bearer",
        "error=invalid_grant error_description=code expired",
    ],
)
def test_ordinary_text_is_kept(line: str) -> None:
    assert redact_text(line) == line


@pytest.mark.parametrize(
    "key", ["access_token", "refresh_token", "client_secret", "code", "authorization_code", "code_verifier",
            "client_assertion", "Cookie", "set-cookie", "Authorization", "password", "accessToken", "api_key"],
)  # fmt: skip
def test_secret_named_keys(key: str) -> None:
    assert is_secret_key(key)


@pytest.mark.parametrize(
    "key", ["status_code", "error_code", "token_type", "token_endpoint", "authorization_endpoint", "client_id",
            "tool", "path", "request_id", "event", "cache_key"],
)  # fmt: skip
def test_ordinary_keys(key: str) -> None:
    assert not is_secret_key(key)


def test_redaction_is_recursive_and_keeps_non_secret_values() -> None:
    class Opaque:
        def __repr__(self) -> str:
            return f"Opaque(token={CODE})"

        __str__ = __repr__

    event: dict[str, Any] = {
        "message": f"exchange failed for {REFRESH}",
        "client_id": "dcl_Xy3kP9mQ2wE5rT8uI1oL4aSd",
        "status_code": 400,
        "retry": True,
        "upstream": {
            "token_endpoint": "https://up.example/token",
            "response": {"access_token": "abc", "expires_in": 60},
        },
        "headers": [("authorization", "Bearer abc"), ("accept", "application/json")],
        "cookies": {"a": "b"},
        "object": Opaque(),
        "deep": [[[[[[[[[["x"]]]]]]]]]],
    }  # fmt: skip
    cleaned = redact(event)
    dumped = json.dumps(cleaned)
    for secret in (REFRESH, CODE, '"abc"', "Bearer abc"):
        assert secret not in dumped
    assert isinstance(cleaned, dict)
    assert cleaned["client_id"] == "dcl_Xy3kP9mQ2wE5rT8uI1oL4aSd"
    assert cleaned["status_code"] == 400 and cleaned["retry"] is True
    assert cleaned["upstream"]["token_endpoint"] == "https://up.example/token"
    assert cleaned["upstream"]["response"] == {"access_token": REDACTED, "expires_in": 60}
    assert cleaned["headers"][1] == ["accept", "application/json"]
    assert cleaned["cookies"] == REDACTED


_SCRIPT = textwrap.dedent(
    """
    import logging, warnings
    import structlog
    from deputy.audit.context import bind_request_id
    from deputy.http.access_log import install_access_log_redaction
    from deputy.logs import configure_logging

    configure_logging("json", "info")
    install_access_log_redaction()
    log = logging.getLogger("deputy.http")
    log.info("plain line")
    with bind_request_id("req-7"):
        log.warning("upstream refused %s", "{refresh}")
        logging.getLogger("uvicorn.access").info(
            '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", "/callback?code=c0de-value&state=st4te", "1.1", 302
        )
        structlog.get_logger("deputy.broker").info("grant used", access_token="abc", tool="contacts_list")
    logging.getLogger("deputy.debug").debug("below the level")
    warnings.warn("library warning with {jwt}", UserWarning)
    try:
        raise ValueError("bad input {code}")
    except ValueError:
        log.exception("unexpected")
    """
)


def test_every_line_is_one_redacted_json_object() -> None:
    script = _SCRIPT.replace("{refresh}", REFRESH).replace("{jwt}", JWT).replace("{code}", CODE)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout == ""
    lines = [json.loads(line) for line in out.stderr.splitlines()]
    for line in lines:
        assert {"timestamp", "level", "logger", "message"} <= line.keys()
    by_message = {line["message"].split(" ")[0]: line for line in lines}
    assert by_message["plain"] == {**by_message["plain"], "logger": "deputy.http", "level": "info"}
    assert "request_id" not in by_message["plain"]
    refused = by_message["upstream"]
    assert refused["request_id"] == "req-7" and refused["level"] == "warning"
    access = next(line for line in lines if line["logger"] == "uvicorn.access")
    assert access["request_id"] == "req-7"
    assert access["path"] == "/callback?code=…&state=…" and access["status"] == 302 and access["method"] == "GET"
    grant = by_message["grant"]
    assert grant["access_token"] == REDACTED and grant["tool"] == "contacts_list" and grant["request_id"] == "req-7"
    assert any(line["logger"] == "py.warnings" for line in lines)
    assert by_message["unexpected"]["level"] == "error" and "ValueError" in by_message["unexpected"]["exception"]
    assert "below the level" not in out.stderr
    for secret in (REFRESH, JWT, CODE, "c0de-value", "st4te"):
        assert secret not in out.stderr
