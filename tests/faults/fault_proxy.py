"""A TCP proxy on loopback whose behaviour a test switches at will: the network between Deputy and what it needs.

Modes, applied to every connection accepted from then on (switching mode also drops every open connection, so a
pooled keep-alive connection cannot carry the old behaviour over):

* ``pass``: bytes flow both ways to the target;
* ``down``: nothing listens on the port any more (connection refused), until another mode is set;
* ``hang``: the request is read and never answered (the client's timeout decides);
* ``reset``: the request is read, then the connection is reset (RST, no response);
* ``garbage``: the request is read and answered ``200`` with a body that is not JSON;
* ``error``: the request is read and answered ``503`` with an HTML page, as a provider's load balancer would.

The proxy runs its own event loop in a daemon thread, so the test's loop and a server under test in another
thread are unaffected; ``stop`` closes everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from concurrent.futures import Future
from typing import Literal

__all__ = ["FaultProxy", "Mode"]

Mode = Literal["pass", "down", "hang", "reset", "garbage", "error"]

LOOPBACK = "127.0.0.1"
_GARBAGE = b"<html><body>Temporarily on fire</body></html>"
_ANSWERS: dict[str, bytes] = {
    "garbage": b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
    % (len(_GARBAGE), _GARBAGE),
    "error": b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/html\r\nContent-Length: %d\r\n"
    b"Connection: close\r\n\r\n%s" % (len(_GARBAGE), _GARBAGE),
}
_CHUNK = 65536


class FaultProxy:
    """Forward ``127.0.0.1:port`` to ``target``; ``set_mode`` changes what happens to connections."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._mode: Mode = "pass"
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fault-proxy", daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((LOOPBACK, 0))
        self.port: int = sock.getsockname()[1]
        sock.close()
        self._thread.start()
        self._call(self._listen())

    @property
    def mode(self) -> Mode:
        return self._mode

    def set_mode(self, mode: Mode) -> None:
        self._call(self._switch(mode))

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._call(self._switch("down"))
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def _call(self, coro: object) -> None:
        future: Future[None] = asyncio.run_coroutine_threadsafe(coro, self._loop)  # type: ignore[arg-type]
        future.result(10)

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._handle, LOOPBACK, self.port, reuse_address=True)

    async def _switch(self, mode: Mode) -> None:
        self._mode = mode
        for writer in list(self._writers):
            _abort(writer)
        self._writers.clear()
        if mode == "down" and self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        elif mode != "down" and self._server is None:
            await self._listen()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        mode = self._mode
        try:
            if mode == "pass":
                await self._pipe(reader, writer)
                return
            await reader.read(_CHUNK)  # the request (or its start): the client has sent something
            if mode in _ANSWERS:
                writer.write(_ANSWERS[mode])
                await writer.drain()
                writer.close()
            elif mode == "reset":
                _abort(writer)
            else:  # hang: until the client gives up or the mode changes
                await reader.read()
        except (ConnectionError, OSError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            _abort(writer)
            return
        self._writers.add(up_writer)
        try:
            await asyncio.gather(_copy(reader, up_writer), _copy(up_reader, writer))
        finally:
            self._writers.discard(up_writer)
            up_writer.close()


async def _copy(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
    try:
        while data := await src.read(_CHUNK):
            dst.write(data)
            await dst.drain()
        if dst.can_write_eof():
            dst.write_eof()
    except (ConnectionError, OSError):
        _abort(dst)


def _abort(writer: asyncio.StreamWriter) -> None:
    """Close with RST (SO_LINGER 0): the peer sees the connection reset, not an orderly end."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport = writer.transport
    with contextlib.suppress(Exception):
        transport.abort()
