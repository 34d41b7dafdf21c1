"""Live fixtures for the scanner tests: servers on 127.0.0.1 only, each scan run once per module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from scan_support import UPSTREAM_TOKEN, VulnerableWorld
from vulnerable_server import Recorder, create_recorder_app, create_vulnerable_app

from deputy.scanner.model import ScanReport
from deputy.scanner.runner import ScanConfig, run_scan
from live import LiveServers, bind_loopback


@pytest.fixture(scope="module")
def vulnerable() -> Iterator[VulnerableWorld]:
    """The vulnerable proxy on http://127.0.0.1:P and its "upstream" recorder on http://localhost:R."""
    recorder = Recorder()
    app_sock, upstream_sock = bind_loopback(), bind_loopback()
    base = f"http://127.0.0.1:{app_sock.getsockname()[1]}"
    upstream = f"http://localhost:{upstream_sock.getsockname()[1]}/oauth/authorize"
    app = create_vulnerable_app(base, upstream)
    with LiveServers([(app, app_sock), (create_recorder_app(recorder), upstream_sock)]):
        yield VulnerableWorld(base, upstream, recorder, app.state.vulnerable)


@pytest.fixture(scope="module")
def vulnerable_report(vulnerable: VulnerableWorld) -> ScanReport:
    config = ScanConfig(vulnerable.mcp_url, active=True, upstream_token=UPSTREAM_TOKEN, burst=10, max_seconds=60)
    return run_scan(config, confirm=lambda _plan: True)
