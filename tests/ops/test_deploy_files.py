"""The Dockerfile and deploy/compose.yaml: non-root, health-checked, no secret baked in, and a valid configuration."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from deputy.config import load_settings
from deputy.logs import is_secret_key

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "deploy" / "compose.yaml"


def _instructions(path: Path) -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` pairs, continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", path.read_text(encoding="utf-8"))
    pairs = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            pairs.append((word.upper(), rest.strip()))
    return pairs


def test_the_image_runs_as_a_non_root_user() -> None:
    steps = _instructions(DOCKERFILE)
    final_stage = steps[max(i for i, (word, _) in enumerate(steps) if word == "FROM") :]
    assert final_stage[0][1].startswith("python:3.11-slim")
    users = [args for word, args in final_stage if word == "USER"]
    assert users, "the final stage never switches user"
    assert users[-1].split(":")[0] not in ("root", "0")
    last_user = max(i for i, (word, _) in enumerate(final_stage) if word == "USER")
    first_run = min(i for i, (word, _) in enumerate(final_stage) if word in ("ENTRYPOINT", "CMD"))
    assert last_user < first_run


def test_the_image_is_built_from_the_source_tree_only() -> None:
    steps = _instructions(DOCKERFILE)
    assert not [args for word, args in steps if word == "ADD" and re.search(r"(?i)\b(https?|git)://", args)]
    installs = [
        args for word, args in steps if word == "RUN" and re.search(r'pip install .*\s"?\.(\[\w+\])?"?(\s|$)', args)
    ]
    assert installs, "the image does not pip install the project itself"
    assert any(word == "CMD" and "serve" in args for word, args in steps)


def test_the_image_declares_a_liveness_healthcheck() -> None:
    checks = [args for word, args in _instructions(DOCKERFILE) if word == "HEALTHCHECK"]
    assert len(checks) == 1 and "/healthz" in checks[0] and "CMD" in checks[0]


def test_no_secret_is_baked_into_the_image() -> None:
    for word, args in _instructions(DOCKERFILE):
        if word in ("ENV", "ARG", "LABEL"):
            names = re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=", args) or [args.split(" ")[0]]
            assert not [n for n in names if is_secret_key(n)], (word, args)
        if word in ("COPY", "ADD"):
            assert not re.search(r"(?i)keys\.json|secret|\.pem|\.env\b", args), (word, args)


def _compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _deputies(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: svc for name, svc in compose["services"].items() if svc.get("image") == "deputy:local"}


def test_compose_runs_two_deputies_a_database_and_a_proxy() -> None:
    compose = _compose()
    deputies = _deputies(compose)
    serving = [name for name, svc in deputies.items() if svc["command"][0] == "serve"]
    assert len(serving) == 2
    assert {"postgres", "proxy", "migrate"} <= compose["services"].keys()
    for name in serving:
        assert deputies[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert int(deputies[name]["stop_grace_period"].rstrip("s")) > 20  # longer than shutdown_grace_seconds


def test_compose_gives_keys_and_credentials_as_mounted_secret_files() -> None:
    compose = _compose()
    assert compose["secrets"]["deputy_keys"] == {"file": "./secrets/keys.json"}
    for svc in compose["services"].values():
        for key, val in (svc.get("environment") or {}).items():
            assert not is_secret_key(key) or str(val).startswith("/run/secrets/"), key
    for svc in _deputies(compose).values():
        assert "deputy_keys" in svc["secrets"]


def test_the_compose_configuration_is_a_valid_deputy_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    """deploy/deputy.toml, with the environment the compose entrypoint provides, loads; it trusts the proxy."""
    monkeypatch.setenv("DEPUTY_SERVER__BASE_URL", "https://mcp.example.com")
    monkeypatch.setenv("DEPUTY_STORAGE__URL", "postgresql+psycopg://deputy:pw@postgres:5432/deputy")
    monkeypatch.setenv("DEPUTY_UPSTREAM__CLIENT_SECRET", "upstream-secret")
    monkeypatch.setenv("DEPUTY_SERVER__METRICS_TOKEN", "m" * 32)
    settings = load_settings(ROOT / "deploy" / "deputy.toml")
    proxy_ip = _compose()["services"]["proxy"]["networks"]["backend"]["ipv4_address"]
    assert settings.server.trusted_proxies == (proxy_ip,)
    assert str(settings.keys.file) == "/run/secrets/deputy_keys"
    assert settings.server.metrics_token is not None


def _compose_command() -> list[str] | None:
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True, check=False).returncode == 0:
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


def test_compose_file_passes_docker_compose_config() -> None:
    command = _compose_command()
    if command is None:
        pytest.skip("neither `docker compose` nor `docker-compose` is installed")
    result = subprocess.run(
        [*command, "-f", str(COMPOSE), "config", "-q"], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
