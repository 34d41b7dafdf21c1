"""The ``[client_metadata]`` configuration group: safe defaults, and bad values named at start-up."""

from __future__ import annotations

from pathlib import Path

import pytest

from deputy.errors import ConfigError
from support import deputy_settings


def test_defaults_are_the_production_policy(tmp_path: Path) -> None:
    group = deputy_settings(tmp_path).client_metadata
    assert group.enabled and not group.allow_loopback_fetch
    assert (group.max_bytes, group.timeout_seconds, group.max_cache_seconds) == (5120, 10.0, 604800)
    assert group.allow_domains == group.deny_domains == () and group.ca_file is None


@pytest.mark.parametrize(
    "change",
    [
        {"allow_domains": ["Example.com"]},
        {"deny_domains": ["example.com."]},
        {"deny_domains": ["*.example.com"]},
        {"allow_domains": ["10.0.0.1"]},
        {"max_cache_seconds": 8 * 86400},
        {"max_bytes": 10},
        {"timeout_seconds": 0},
        {"ca_file": "/nonexistent/ca.pem"},
        {"allow_loopback": True},  # misspelt keys are errors, never silently ignored
    ],
)
def test_bad_values_are_named(tmp_path: Path, change: dict[str, object]) -> None:
    with pytest.raises(ConfigError, match="client_metadata"):
        deputy_settings(tmp_path, client_metadata=change)
