"""``deputy scan`` as a command: exit codes, stdout/stderr discipline, confirmation, --checklist, --sarif."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from scan_support import UPSTREAM_TOKEN, VulnerableWorld, parse_scan_args, run_cli
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from deputy.scanner.checklist import CHECKLIST, render_checklist
from deputy.scanner.cli import main
from live import LiveServers, bind_loopback, free_port


def _well_behaved_app(base: str) -> Starlette:
    """A minimal MCP server that passes every passive check (no DCR, so nothing to probe actively)."""
    resource = base + "/mcp"

    async def mcp(request: Request) -> Response:
        if request.headers.get("origin") not in (None, base):
            return JSONResponse({"error": "forbidden origin"}, 403)
        metadata = f"{base}/.well-known/oauth-protected-resource/mcp"
        error = ', error="invalid_token"' if request.headers.get("authorization") else ""
        return JSONResponse({}, 401, {"WWW-Authenticate": f'Bearer resource_metadata="{metadata}"{error}'})

    async def prm(request: Request) -> Response:
        return JSONResponse({"resource": resource, "authorization_servers": [base], "scopes_supported": ["read"]})

    async def as_metadata(request: Request) -> Response:
        return JSONResponse(
            {
                "issuer": base,
                "authorization_endpoint": base + "/authorize",
                "token_endpoint": base + "/token",
                "code_challenge_methods_supported": ["S256"],
                "authorization_response_iss_parameter_supported": True,
                "client_id_metadata_document_supported": True,
            }
        )

    return Starlette(
        routes=[
            Route("/mcp", mcp, methods=["POST"]),
            Route("/.well-known/oauth-protected-resource/mcp", prm),
            Route("/.well-known/oauth-authorization-server", as_metadata),
        ]
    )


@pytest.fixture(scope="module")
def good_url() -> Iterator[str]:
    sock = bind_loopback()
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    with LiveServers([(_well_behaved_app(base), sock)]):
        yield base + "/mcp"


def test_exit_0_when_nothing_fails(good_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli([good_url]) == 0
    out, err = capsys.readouterr()
    assert "0 fail" in out
    assert "scan: " in err, "progress goes to stderr"


def test_exit_1_when_a_check_fails(vulnerable: VulnerableWorld, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli([vulnerable.mcp_url, "-q"]) == 1
    out, err = capsys.readouterr()
    assert "FAIL  rs.invalid_token" in out
    assert err == ""


def test_json_goes_alone_to_stdout(good_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli([good_url, "--json"]) == 0
    out, err = capsys.readouterr()
    doc = json.loads(out)
    assert doc["target"] == good_url and doc["mode"] == "passive"
    assert err.startswith("scan: ")


def test_sarif_file_is_written(vulnerable: VulnerableWorld, tmp_path: Path) -> None:
    path = tmp_path / "out.sarif"
    assert run_cli([vulnerable.mcp_url, "-q", "--sarif", str(path)]) == 1
    doc = json.loads(path.read_text())
    assert doc["version"] == "2.1.0"
    assert {"rs.invalid_token", "as.pkce_s256"} <= {r["ruleId"] for r in doc["runs"][0]["results"]}


def test_exit_2_on_connection_error(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}/mcp"
    assert run_cli([url, "-q", "--timeout", "5"]) == 2
    assert "cannot reach" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "a URL is required"),
        (["ftp://127.0.0.1/mcp"], "not an http(s) URL"),
        (["http://127.0.0.1:1/mcp#x"], "fragment"),
        (["http://127.0.0.1:1/mcp", "--allow-host", "host:port"], "--allow-host"),
    ],
)
def test_exit_2_on_usage_errors(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(argv) == 2
    assert message in capsys.readouterr().err


def test_argparse_rejects_bad_numbers() -> None:
    for argv in (["u", "--burst", "9999"], ["u", "--timeout", "0"], ["u", "--max-seconds", "x"]):
        with pytest.raises(SystemExit) as exc:
            parse_scan_args(argv)
        assert exc.value.code == 2


def test_active_asks_and_declining_sends_nothing_active(
    vulnerable: VulnerableWorld, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    before = vulnerable.state.registrations
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    assert run_cli([vulnerable.mcp_url, "--active", "-q"]) == 2
    err = capsys.readouterr().err
    assert "--active will send these requests" in err
    assert f"{vulnerable.base_url}/register" in err
    assert "not confirmed" in err
    assert vulnerable.state.registrations == before


def test_active_confirmed_on_stdin_runs(
    vulnerable: VulnerableWorld, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    before = vulnerable.state.registrations
    monkeypatch.setattr("sys.stdin", io.StringIO("yes\n"))
    assert run_cli([vulnerable.mcp_url, "--active", "-q", "--burst", "2"]) == 1
    assert vulnerable.state.registrations > before
    assert "FAIL  authz.consent" in capsys.readouterr().out


def test_upstream_token_file(vulnerable: VulnerableWorld, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "token"
    path.write_text(UPSTREAM_TOKEN + "\n")
    assert run_cli([vulnerable.mcp_url, "-q", "--json", "--upstream-token-file", str(path)]) == 1
    out = capsys.readouterr().out
    assert UPSTREAM_TOKEN not in out
    status = {c["id"]: c["status"] for c in json.loads(out)["checks"]}
    assert status["rs.upstream_token"] == "fail"


def test_checklist(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["--checklist"]) == 0
    out = capsys.readouterr().out
    assert out == render_checklist()
    assert out.startswith("## MCP proxy server audit")
    items = [line for line in out.splitlines() if line.startswith("- [ ] ")]
    assert len(items) == len(CHECKLIST) == 10
    assert all(line.endswith("*manual*") or "`" in line.rsplit("—", 1)[1] for line in items)
    assert "`authz.consent`" in next(line for line in items if "consent screen" in line)
    assert "*manual*" in next(line for line in items if "static client ID" in line)


def test_standalone_main(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--checklist"]) == 0
    assert "MCP proxy server audit" in capsys.readouterr().out
