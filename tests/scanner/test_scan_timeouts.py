"""Every request has a timeout and the whole scan a time budget, against a server that stalls on purpose.

The stalled endpoint waits on an event (bounded at 10 s) that the test sets afterwards, so no test sleeps and
the server shuts down promptly.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from deputy.scanner.model import Status
from deputy.scanner.runner import ScanConfig, run_scan
from live import LiveServers, bind_loopback


@dataclass(frozen=True)
class Stalling:
    url: str
    release: threading.Event


def _stalling_app(base: str, release: threading.Event) -> Starlette:
    async def mcp(request: Request) -> Response:
        metadata = f"{base}/.well-known/oauth-protected-resource/mcp"
        return JSONResponse({}, 401, {"WWW-Authenticate": f'Bearer resource_metadata="{metadata}"'})

    async def stall(request: Request) -> Response:
        deadline = time.monotonic() + 10
        while not release.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(0.02)  # the server yields; the test itself never sleeps
        return JSONResponse({})

    return Starlette(routes=[Route("/mcp", mcp, methods=["POST"]), Route("/.well-known/{rest:path}", stall)])


@pytest.fixture
def stalling() -> Iterator[Stalling]:
    release = threading.Event()
    sock = bind_loopback()
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    servers = LiveServers([(_stalling_app(base, release), sock)])
    with servers:
        try:
            yield Stalling(base + "/mcp", release)
        finally:
            release.set()


def test_each_request_times_out(stalling: Stalling) -> None:
    started = time.monotonic()
    report = run_scan(ScanConfig(stalling.url, timeout=0.3, max_seconds=30))
    assert time.monotonic() - started < 8
    prm = report.result("prm.discovered")
    assert prm.status is Status.FAIL
    assert any("ReadTimeout" in e.response for e in prm.evidence)


def test_the_whole_scan_is_bounded(stalling: Stalling) -> None:
    started = time.monotonic()
    report = run_scan(ScanConfig(stalling.url, timeout=10, max_seconds=0.5))
    assert time.monotonic() - started < 5
    assert any("--max-seconds" in n for n in report.notes)
    assert report.result("as.discovered").status is Status.FAIL
    assert any("max-seconds" in e.response for e in report.result("as.discovered").evidence)
