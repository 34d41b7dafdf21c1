"""SIGTERM on a real ``deputy serve``: the request in flight completes normally, new connections are refused, and the
process exits 0 within the grace period. Its log lines, meanwhile, are JSON objects carrying the request id.

The in-flight request is a client registration whose body arrives in two parts. ``Expect: 100-continue`` makes the
server say when the endpoint has started reading the body, so the signal is sent while Deputy is provably in the
middle of that request, with no timing guesswork.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from live import LOOPBACK, free_port
from support import minimal_config

GRACE_SECONDS = 30


def _config(tmp_path: Path, port: int) -> Path:
    server = f'base_url = "http://{LOOPBACK}:{port}"\nport = {port}\nshutdown_grace_seconds = {GRACE_SECONDS}'
    return minimal_config(
        tmp_path / "deputy.toml",
        storage_url=f"sqlite:///{tmp_path / 'deputy.db'}",
        keys_file=tmp_path / "keys.json",
        server=server,
    )


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int, Path]]:
    port = free_port()
    log_path = tmp_path / "deputy.log"
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "deputy", "serve", "--config", str(_config(tmp_path, port))],
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_serving(proc, port)
        yield proc, port, log_path
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def _wait_until_serving(proc: subprocess.Popen[bytes], port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"http://{LOOPBACK}:{port}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("deputy serve did not come up")


def _read_head(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        assert chunk, f"connection closed early: {data!r}"
        data += chunk
    return data


def _read_all(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def _refuses_connections(port: int) -> bool:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection((LOOPBACK, port), timeout=2).close()
        except ConnectionRefusedError:
            return True
        time.sleep(0.05)
    return False


def test_sigterm_lets_the_request_in_flight_finish_and_exits_zero(
    served: tuple[subprocess.Popen[bytes], int, Path],
) -> None:
    proc, port, log_path = served
    body = json.dumps(
        {"client_name": "Drained", "redirect_uris": ["https://app.example/cb"], "token_endpoint_auth_method": "none"}
    ).encode()
    head = (
        f"POST /register HTTP/1.1\r\nHost: {LOOPBACK}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\nX-Request-Id: drain-1\r\n\r\n"
    ).encode()
    with socket.create_connection((LOOPBACK, port), timeout=20) as sock:
        sock.sendall(head)
        assert _read_head(sock).startswith(b"HTTP/1.1 100 Continue")  # the endpoint is now reading the body
        sock.sendall(body[:10])
        proc.send_signal(signal.SIGTERM)
        assert _refuses_connections(port), "still accepting new connections after SIGTERM"
        assert proc.poll() is None, "exited with a request in flight"
        sock.sendall(body[10:])
        response = _read_all(sock)
    status_line, _, rest = response.partition(b"\r\n")
    headers, _, payload = rest.partition(b"\r\n\r\n")
    assert status_line == b"HTTP/1.1 201 Created", response
    assert b"x-request-id: drain-1" in headers.lower()
    registered = json.loads(payload)
    assert registered["client_id"].startswith("dcl_") and registered["client_name"] == "Drained"
    assert proc.wait(timeout=GRACE_SECONDS) == 0

    lines = [json.loads(line) for line in log_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert lines and all({"timestamp", "level", "logger", "message"} <= line.keys() for line in lines)
    access = [line for line in lines if line["logger"] == "uvicorn.access" and line.get("path") == "/register"]
    assert [(a["method"], a["status"], a["request_id"]) for a in access] == [("POST", 201, "drain-1")]
    assert any(line["logger"] == "uvicorn.error" and "Shutting down" in line["message"] for line in lines)
