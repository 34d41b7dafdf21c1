"""``deputy tools import`` and ``deputy tools check``, driven through ``add_tools_parser`` on a fresh parser."""

from __future__ import annotations

import argparse
import json
import tomllib
from pathlib import Path
from typing import Any

import pytest

from deputy.demo.acme import default_settings
from deputy.demo.acme.openapi import openapi_document
from deputy.resource.catalogue import catalogue_from_openapi, load_catalogue, parse_catalogue
from deputy.resource.tools_cli import add_tools_parser

SHIPPED = Path(__file__).parents[2] / "src" / "deputy" / "demo" / "acme_tools.toml"


def acme_doc() -> dict[str, Any]:
    return openapi_document(default_settings("https://acme.example", "https://deputy.example/callback"))


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="deputy")
    add_tools_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["tools", *argv])
    return int(args.func(args))


@pytest.fixture
def openapi_file(tmp_path: Path) -> Path:
    path = tmp_path / "openapi.json"
    path.write_text(json.dumps(acme_doc()), encoding="utf-8")
    return path


def test_import_prints_the_catalogue(openapi_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("import", str(openapi_file), "--read-scope", "crm.read", "--write-scope", "crm.write") == 0
    out = capsys.readouterr().out
    expected, _ = catalogue_from_openapi(acme_doc(), read_scope="crm.read", write_scope="crm.write")
    assert parse_catalogue(tomllib.loads(out)) == expected


def test_import_without_scopes_keeps_the_upstream_scopes(
    openapi_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("import", str(openapi_file)) == 0
    catalogue = parse_catalogue(tomllib.loads(capsys.readouterr().out))
    assert {t.scope for t in catalogue.tools} == {
        f"{r}:{a}" for r in ("contacts", "deals", "notes") for a in ("read", "write")
    }


def test_import_writes_out_but_never_overwrites_without_force(
    openapi_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "tools.toml"
    assert run("import", str(openapi_file), "--out", str(out), "--read-scope", "r", "--write-scope", "w") == 0
    assert len(load_catalogue(out).tools) == 15 and capsys.readouterr().out == ""
    out.write_text("# hand edits\n", encoding="utf-8")
    assert run("import", str(openapi_file), "--out", str(out)) == 2
    assert out.read_text(encoding="utf-8") == "# hand edits\n"
    assert (
        run("import", str(openapi_file), "--out", str(out), "--force", "--read-scope", "r", "--write-scope", "w") == 0
    )
    assert len(load_catalogue(out).tools) == 15


def test_import_reports_skipped_operations_on_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = acme_doc()
    del doc["paths"]["/notes"]["get"]["operationId"]
    path = tmp_path / "openapi.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    assert run("import", str(path), "--read-scope", "r", "--write-scope", "w") == 0
    captured = capsys.readouterr()
    assert "GET /notes" in captured.err
    assert len(parse_catalogue(tomllib.loads(captured.out)).tools) == 14


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("missing.json", None),
        ("broken.json", "{"),
        ("swagger.json", '{"swagger": "2.0", "paths": {}}'),
        ("doc.yaml", "openapi: 3.1.0"),
        ("empty.json", '{"openapi": "3.1.0", "paths": {}}'),
    ],
)
def test_import_fails_with_exit_code_2(
    tmp_path: Path, name: str, content: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content, encoding="utf-8")
    assert run("import", str(path)) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err


def test_check_summarises_the_shipped_catalogue(capsys: pytest.CaptureFixture[str]) -> None:
    assert run("check", str(SHIPPED)) == 0
    assert capsys.readouterr().out.strip().endswith("15 tools, 9 read, 6 write")


def test_check_fails_with_exit_code_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        SHIPPED.read_text(encoding="utf-8").replace('path = "/contacts/{id}"', 'path = "/contacts/{cid}"'),
        encoding="utf-8",
    )
    assert run("check", str(bad)) == 2
    assert run("check", str(tmp_path / "missing.toml")) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 2


@pytest.mark.parametrize("argv", [["--help"], ["import", "--help"], ["check", "--help"]])
def test_help_is_available(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        run(*argv)
    assert exited.value.code == 0
    assert "usage:" in capsys.readouterr().out


def test_a_subcommand_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        run()
    assert exited.value.code == 2
