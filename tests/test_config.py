"""Configuration: a bad value stops start-up with one message naming the key; the environment overrides the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from deputy.cli import main
from deputy.config import load_settings
from deputy.errors import ConfigError

MINIMAL = """
[upstream]
client_id = "static-client"
authorize_url = "https://up.example/authorize"
token_url = "https://up.example/token"
userinfo_url = "https://up.example/userinfo"

[scopes.read]
description = "Read"
upstream = ["read"]
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "deputy.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_minimal_file_loads_with_defaults(tmp_path: Path) -> None:
    s = load_settings(_write(tmp_path, MINIMAL))
    assert s.issuer == "http://127.0.0.1:8000" and s.resource_url == "http://127.0.0.1:8000/mcp"
    assert s.effective_default_scopes == ("read",)
    assert s.storage.url.startswith("sqlite:")


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPUTY_SERVER__BASE_URL", "https://mcp.example.com/")
    monkeypatch.setenv("DEPUTY_UPSTREAM__CLIENT_SECRET", "from-env")
    s = load_settings(_write(tmp_path, MINIMAL))
    assert s.issuer == "https://mcp.example.com"
    assert s.upstream.client_secret is not None and s.upstream.client_secret.get_secret_value() == "from-env"
    assert s.upstream.client_id == "static-client"


@pytest.mark.parametrize(
    ("patch", "key"),
    [
        ('[server]\nbase_url = "http://example.com"\n', "server.base_url"),
        ("[server]\nport = 70000\n", "server.port"),
        ('[server]\ntrusted_proxies = ["not-an-ip"]\n', "server.trusted_proxies"),
        ('[server]\ntls_cert = "/x.pem"\n', "server"),
        ('[storage]\nurl = "mysql://x"\n', "storage.url"),
        ("[lifetimes]\naccess_token = 5\n", "lifetimes.access_token"),
        ("[registration]\nbogus = 1\n", "registration.bogus"),
        ('[scopes."bad scope"]\ndescription = "x"\n', "scopes"),
    ],
)
def test_bad_value_names_the_key(tmp_path: Path, patch: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(_write(tmp_path, MINIMAL + patch))
    assert f"configuration key {key}" in str(info.value)


def test_missing_upstream_client_id_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(_write(tmp_path, MINIMAL.replace('client_id = "static-client"\n', "")))
    assert "upstream" in str(info.value) and "client_id" in str(info.value)


def test_invalid_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_settings(_write(tmp_path, "[server\n"))
    with pytest.raises(ConfigError):
        load_settings(tmp_path / "absent.toml")


def test_serve_with_a_bad_config_exits_2_with_one_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, MINIMAL + '[server]\nbase_url = "ftp://x"\n')
    assert main(["serve", "--config", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "server.base_url" in err[0]


def test_serve_with_a_missing_key_ring_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(
        tmp_path,
        MINIMAL
        + f'[keys]\nfile = "{tmp_path / "none.json"}"\n'
        + f'[storage]\nurl = "sqlite:///{tmp_path / "d.db"}"\n',
    )
    assert main(["serve", "--config", str(path)]) == 2
    assert "keys.file" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["serve", "--help"],
        ["demo", "--help"],
        ["migrate", "--help"],
        ["keys", "--help"],
        ["keys", "init", "--help"],
    ],
)
def test_every_command_has_help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 0
    assert "usage: deputy" in capsys.readouterr().out


def test_keys_init_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    assert main(["keys", "init", "--file", str(path)]) == 0
    before = path.read_bytes()
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert main(["keys", "init", "--file", str(path)]) == 2
    assert path.read_bytes() == before


def test_the_example_configuration_loads() -> None:
    """examples/deputy.toml is documentation: it must stay a valid configuration."""
    example = Path(__file__).resolve().parents[1] / "examples" / "deputy.toml"
    settings = load_settings(example)
    assert settings.server.base_url.startswith("https://") and "reports" in settings.downstream
