"""The throwaway client's redirect URI: a tiny HTTP listener on 127.0.0.1 with a bounded lifetime.

The scanner never drives a browser, so nothing should ever arrive here; the listener exists so the redirect URI
it registers is an address the scanner controls (a code sent there reaches no one else). Whatever does arrive is
recorded (paths redacted) and answered with a short page.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Final

from deputy.scanner.redact import redact_url

__all__ = ["CallbackListener"]

_BODY: Final = b"deputy scan: this address only exists while a scan runs. You can close this window.\n"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    hits: list[str]
    hits_lock: threading.Lock


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        with self.server.hits_lock:
            if len(self.server.hits) < 100:
                self.server.hits.append(f"{self.command} {redact_url(self.path)}")
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(_BODY)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(_BODY)

    do_POST = do_GET

    def log_message(self, format: str, *args: object) -> None:
        """Silent: request lines may carry codes."""


class CallbackListener:
    """Context manager: serve on ``127.0.0.1:<random>`` until exit, or until ``max_lifetime`` seconds pass."""

    def __init__(self, *, max_lifetime: float, path: str = "/callback") -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.hits = []
        self._server.hits_lock = threading.Lock()
        self._server.timeout = 1.0
        self._path = path
        self._thread = threading.Thread(target=self._serve, name="deputy-scan-listener", daemon=True)
        self._watchdog = threading.Timer(max_lifetime, self._server.shutdown)
        self._watchdog.daemon = True
        self._started = False

    @property
    def redirect_uri(self) -> str:
        port = int(self._server.server_address[1])
        return f"http://127.0.0.1:{port}{self._path}"

    @property
    def hits(self) -> tuple[str, ...]:
        with self._server.hits_lock:
            return tuple(self._server.hits)

    def _serve(self) -> None:
        self._server.serve_forever(poll_interval=0.05)

    def __enter__(self) -> CallbackListener:
        self._thread.start()
        self._watchdog.start()
        self._started = True
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._watchdog.cancel()
        if self._started:
            if self._thread.is_alive():
                self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()
