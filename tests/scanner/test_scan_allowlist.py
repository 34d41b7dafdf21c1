"""The host allowlist, live: redirects to another host are reported and never requested, unless --allow-host.

The target on 127.0.0.1 redirects its MCP URL's metadata to a recorder on ``localhost`` (another host name); the
recorder must stay empty. With ``--allow-host localhost:PORT`` the same scan may follow the redirect.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from vulnerable_server import Recorder, create_recorder_app

from deputy.scanner.model import Status
from deputy.scanner.runner import ScanConfig, run_scan
from live import LiveServers, bind_loopback


@dataclass(frozen=True)
class World:
    target: str
    elsewhere: str
    recorder: Recorder


def _redirecting_app(base: str, elsewhere: str) -> Starlette:
    async def mcp(request: Request) -> Response:
        metadata = f"{base}/.well-known/oauth-protected-resource/mcp"
        return JSONResponse({}, 401, {"WWW-Authenticate": f'Bearer resource_metadata="{metadata}"'})

    async def moved(request: Request) -> Response:
        return RedirectResponse(f"{elsewhere}{request.url.path}?from=target", status_code=307)

    return Starlette(
        routes=[
            Route("/mcp", mcp, methods=["POST"]),
            Route("/.well-known/{rest:path}", moved, methods=["GET"]),
        ]
    )


@pytest.fixture
def world() -> Iterator[World]:
    recorder = Recorder()
    target_sock, other_sock = bind_loopback(), bind_loopback()
    target = f"http://127.0.0.1:{target_sock.getsockname()[1]}"
    elsewhere = f"http://localhost:{other_sock.getsockname()[1]}"
    apps = [(_redirecting_app(target, elsewhere), target_sock), (create_recorder_app(recorder), other_sock)]
    with LiveServers(apps):
        yield World(target, elsewhere, recorder)


def test_redirect_to_another_host_is_reported_but_never_requested(world: World) -> None:
    report = run_scan(ScanConfig(world.target + "/mcp", max_seconds=30))
    assert world.recorder.requests == []
    assert report.contacted == (world.target.removeprefix("http://"),)
    assert any(url.startswith(world.elsewhere + "/.well-known/") for url in report.not_fetched)
    prm = report.result("prm.discovered")
    assert prm.status is Status.FAIL
    assert any("307" in e.response and world.elsewhere in e.response for e in prm.evidence)


def test_allow_host_lets_the_scanner_follow(world: World) -> None:
    allowed = world.elsewhere.removeprefix("http://")
    run_scan(ScanConfig(world.target + "/mcp", max_seconds=30, allow_hosts=(allowed,)))
    assert world.recorder.requests, "with --allow-host the redirect target may be fetched"
    assert all("from=target" in r for r in world.recorder.requests)
