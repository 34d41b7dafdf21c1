"""The ``[downstream.NAME]`` settings: what a service may be configured as, and what is refused at start-up."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from deputy.config import load_settings
from deputy.errors import ConfigError
from support import deputy_settings


def _load(tmp_path: Path, **service: Any) -> Any:
    return deputy_settings(
        tmp_path, downstream={"reports": {"audience": "https://reports.example", "scopes": ["crm.read"], **service}}
    )


def test_a_service_loads_with_its_defaults(tmp_path: Path) -> None:
    svc = _load(tmp_path).downstream["reports"]
    assert (svc.audience, svc.scopes, svc.resources) == ("https://reports.example", ("crm.read",), ())
    assert svc.token_lifetime_seconds == 60 and svc.clients is None


def test_no_service_is_configured_by_default(tmp_path: Path) -> None:
    assert deputy_settings(tmp_path).downstream == {}


@pytest.mark.parametrize("lifetime", [5, 600])
def test_lifetime_bounds_are_inclusive(tmp_path: Path, lifetime: int) -> None:
    assert _load(tmp_path, token_lifetime_seconds=lifetime).downstream["reports"].token_lifetime_seconds == lifetime


@pytest.mark.parametrize(
    ("service", "key"),
    [
        ({"token_lifetime_seconds": 4}, "token_lifetime_seconds"),
        ({"token_lifetime_seconds": 601}, "token_lifetime_seconds"),
        ({"scopes": ["crm.admin"]}, "downstream"),  # not a Deputy scope
        ({"scopes": []}, "scopes"),
        ({"audience": "https://deputy.example/mcp"}, "downstream"),  # Deputy's own resource
        ({"audience": "HTTPS://Deputy.Example:443/mcp"}, "downstream"),  # ... in another spelling
        ({"audience": "https://deputy.example"}, "downstream"),  # the issuer
        ({"resources": ["https://deputy.example/mcp"]}, "downstream"),
        ({"audience": "two words"}, "audience"),
        ({"audience": "http://reports.example"}, "audience"),  # plain http off loopback
        ({"resources": ["http://reports.example/api"]}, "resources"),
        ({"resources": ["https://reports.example/api#x"]}, "resources"),
        ({"resources": ["/api"]}, "resources"),
        ({"unknown_key": 1}, "unknown_key"),
    ],
)
def test_unusable_services_stop_start_up_naming_the_key(tmp_path: Path, service: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, **service)
    assert key in str(caught.value)


def test_two_services_may_not_share_an_identifier(tmp_path: Path) -> None:
    services = {
        "reports": {"audience": "https://reports.example", "scopes": ["crm.read"]},
        "copy": {"audience": "copy", "resources": ["https://REPORTS.example"], "scopes": ["crm.read"]},
    }
    with pytest.raises(ConfigError) as caught:
        deputy_settings(tmp_path, downstream=services)
    assert "already identifies downstream.reports" in str(caught.value)


def test_service_names_are_restricted(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        deputy_settings(tmp_path, downstream={"bad name": {"audience": "x", "scopes": ["crm.read"]}})


def test_logical_names_and_loopback_http_are_accepted(tmp_path: Path) -> None:
    services = {
        "billing": {"audience": "billing", "scopes": ["crm.read"], "clients": []},
        "local": {
            "audience": "http://127.0.0.1:9300",
            "resources": ["http://localhost:9300/api"],
            "scopes": ["crm.read"],
        },
    }
    loaded = deputy_settings(tmp_path, downstream=services).downstream
    assert loaded["billing"].clients == () and loaded["local"].resources == ("http://localhost:9300/api",)


def test_a_toml_table_and_the_environment_both_configure_services(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "deputy.toml"
    config.write_text(
        """
[upstream]
client_id = "deputy"
authorize_url = "https://up.example/authorize"
token_url = "https://up.example/token"
userinfo_url = "https://up.example/userinfo"

[scopes."crm.read"]
description = "Read"

[downstream.reports]
audience = "https://reports.example"
resources = ["https://reports.example/api"]
scopes = ["crm.read"]
token_lifetime_seconds = 30
clients = ["internal-assistant"]
""",
        encoding="utf-8",
    )
    svc = load_settings(config).downstream["reports"]
    assert (svc.token_lifetime_seconds, svc.clients) == (30, ("internal-assistant",))
    monkeypatch.setenv(
        "DEPUTY_DOWNSTREAM", json.dumps({"local": {"audience": "http://127.0.0.1:9300", "scopes": ["crm.read"]}})
    )
    assert set(load_settings(config).downstream) == {"reports", "local"}  # merged with the file's services
