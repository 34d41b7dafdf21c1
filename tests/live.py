"""Real servers on loopback: ASGI apps under uvicorn in one background thread, for browser tests and benchmarks.

``LiveServers`` runs any number of apps on 127.0.0.1 in a single thread with its own event loop, so the caller's
thread (a test, a playwright driver, a benchmark loop) stays free. ``start_demo`` wires Acme CRM and Deputy the way
``deputy demo`` does: Deputy on ``http://127.0.0.1:PORT`` and Acme on ``http://localhost:PORT``, two different hosts,
so a browser keeps their cookies apart.

No pytest imports here: the bench scripts import this module too.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import uvicorn
from starlette.applications import Starlette
from starlette.types import ASGIApp

from deputy.app import create_app
from deputy.config import Settings
from deputy.demo.acme import AcmeSettings, AcmeStats, create_acme_app, default_settings
from deputy.demo.runner import demo_settings

__all__ = ["LOOPBACK", "DemoServers", "LiveServers", "bind_loopback", "free_port", "start_demo"]

LOOPBACK = "127.0.0.1"


def bind_loopback(port: int = 0) -> socket.socket:
    """A TCP socket bound (not yet listening) on 127.0.0.1; port 0 lets the kernel pick a free port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((LOOPBACK, port))
    except OSError:
        sock.close()
        raise
    return sock


def free_port() -> int:
    """A port that was free a moment ago. Prefer passing a ``bind_loopback()`` socket to ``LiveServers``: no race."""
    with bind_loopback() as sock:
        port: int = sock.getsockname()[1]
        return port


class LiveServers:
    """Context manager: serve each ``(app, port_or_socket)`` with uvicorn on 127.0.0.1 until the block exits.

    A port of 0 picks a free one. A pre-bound socket (``bind_loopback()``) is served as is, which lets a caller know
    the port before it builds the app (the app's own URL often depends on it). Sockets are owned by this object from
    then on and closed on exit. ``ports`` and ``urls`` list the servers in the order given.
    """

    def __init__(
        self,
        apps: Sequence[tuple[ASGIApp, int | socket.socket]],
        *,
        startup_timeout: float = 10.0,
        shutdown_timeout: float = 10.0,
        log_level: str = "warning",
    ) -> None:
        self._startup_timeout = startup_timeout
        self._shutdown_timeout = shutdown_timeout
        self._sockets: list[socket.socket] = []
        self._servers: list[uvicorn.Server] = []
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        try:
            for app, where in apps:
                sock = where if isinstance(where, socket.socket) else bind_loopback(where)
                self._sockets.append(sock)
                config = uvicorn.Config(
                    app,
                    host=LOOPBACK,
                    port=sock.getsockname()[1],
                    log_level=log_level,
                    log_config=None,  # leave the process's logging configuration alone
                    proxy_headers=False,
                    lifespan="on",
                    timeout_graceful_shutdown=max(1, int(shutdown_timeout / 2)),
                )
                self._servers.append(uvicorn.Server(config))
        except BaseException:
            self._close_sockets()
            raise

    @property
    def ports(self) -> list[int]:
        return [int(sock.getsockname()[1]) for sock in self._sockets]

    @property
    def urls(self) -> list[str]:
        return [f"http://{LOOPBACK}:{port}" for port in self.ports]

    def __enter__(self) -> LiveServers:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("LiveServers already started")
        self._thread = threading.Thread(target=self._run, name="deputy-live-servers", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + self._startup_timeout
        while not all(server.started for server in self._servers):
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                reason = "timed out" if self._error is None else f"failed: {self._error!r}"
                raise RuntimeError(f"live servers did not start ({reason})") from self._error
            time.sleep(0.01)

    def stop(self) -> None:
        for server in self._servers:
            server.should_exit = True
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(self._shutdown_timeout)
            if thread.is_alive():
                for server in self._servers:
                    server.force_exit = True
                thread.join(self._shutdown_timeout)
        self._close_sockets()
        if thread is not None and thread.is_alive():
            raise RuntimeError("live servers did not shut down in time")

    def _run(self) -> None:
        try:
            asyncio.run(self._serve_all())
        except BaseException as exc:  # reported by start(); SystemExit from uvicorn included
            self._error = exc

    async def _serve_all(self) -> None:
        await asyncio.gather(
            *(server.serve(sockets=[sock]) for server, sock in zip(self._servers, self._sockets, strict=True))
        )

    def _close_sockets(self) -> None:
        for sock in self._sockets:
            sock.close()


@dataclass(frozen=True)
class DemoServers:
    """A running demo world: Deputy (the authorization server under test) in front of Acme CRM."""

    deputy_url: str
    acme_url: str
    deputy_app: Starlette
    acme_app: Starlette
    acme_settings: AcmeSettings
    settings: Settings
    acme_secret: str

    @property
    def issuer(self) -> str:
        return self.settings.issuer

    @property
    def resource(self) -> str:
        return self.settings.resource_url

    @property
    def acme_stats(self) -> AcmeStats:
        stats: AcmeStats = self.acme_app.state.acme_stats
        return stats


@contextlib.contextmanager
def start_demo(
    data_dir: Path,
    *,
    extra: Sequence[tuple[ASGIApp, int | socket.socket]] = (),
    log_level: str = "warning",
    intents: bool = True,
) -> Iterator[DemoServers]:
    """Run Acme CRM and Deputy (wired like ``deputy demo``) plus any ``extra`` apps, all on loopback.

    Deputy's database and keys go to ``data_dir``; ``intents=False`` lets write tools run without confirmation.
    Pass ``extra`` apps with ``bind_loopback()`` sockets to know their ports in advance (e.g. an MCP client's
    redirect URI).
    """
    acme_sock, deputy_sock = bind_loopback(), bind_loopback()
    deputy_app: Starlette | None = None
    try:
        acme_url = f"http://localhost:{acme_sock.getsockname()[1]}"
        deputy_port = int(deputy_sock.getsockname()[1])
        deputy_url = f"http://{LOOPBACK}:{deputy_port}"
        secret = secrets.token_urlsafe(24)
        acme_settings = default_settings(acme_url, deputy_url + "/callback", client_secret=secret)
        acme_app = create_acme_app(acme_settings)
        settings = demo_settings(
            data_dir, deputy_url=deputy_url, acme_url=acme_url, acme_secret=secret, port=deputy_port, intents=intents
        )
        deputy_app = create_app(settings)  # its lifespan (run by uvicorn) closes its database and upstream client
        servers = LiveServers([(acme_app, acme_sock), (deputy_app, deputy_sock), *extra], log_level=log_level)
        servers.start()
    except BaseException:
        for sock in (acme_sock, deputy_sock, *(s for _, s in extra if isinstance(s, socket.socket))):
            sock.close()
        if deputy_app is not None:
            deputy_app.state.deps.ctx.store.db.dispose()  # the lifespan did not run to its end
        raise
    try:
        yield DemoServers(deputy_url, acme_url, deputy_app, acme_app, acme_settings, settings, secret)
    finally:
        servers.stop()
