"""A real TLS server on loopback that serves client metadata documents, and the certificates it needs.

``DocServer`` is a threaded ``http.server`` behind TLS on 127.0.0.1, with a certificate for ``localhost``,
``*.cimd.test``, 127.0.0.1 and ::1 issued by a throwaway test CA (``LocalCa``). Each route answers with a status,
headers and a body, or trickles its body a byte at a time (for timeout tests). Every request that reaches the server
is recorded, so a test can assert that a refused fetch never connected.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from deputy.net.addresses import IPAddress

LOOPBACK = "127.0.0.1"
REDIRECT = "https://app.example/callback"


@dataclass(frozen=True)
class LocalCa:
    """PEM files: the CA (``ca_file``, what the fetcher trusts) and the server's certificate chain and key."""

    ca_file: Path
    cert_file: Path
    key_file: Path

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(self.cert_file), str(self.key_file))
        return ctx


def make_ca(directory: Path, names: tuple[str, ...] = ("localhost", "*.cimd.test")) -> LocalCa:
    """A CA and a server certificate for ``names`` plus 127.0.0.1 and ::1, valid for a day."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Deputy test CA")])
    ca_cert = (
        _builder(ca_name, ca_name, ca_key.public_key(), now)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = [x509.DNSName(name) for name in names]
    sans += [x509.IPAddress(ipaddress.ip_address(a)) for a in (LOOPBACK, "::1")]
    cert = (
        _builder(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]), ca_name, key.public_key(), now)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    ca_file, cert_file, key_file = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    ca_file.write_bytes(ca_cert.public_bytes(pem))
    cert_file.write_bytes(cert.public_bytes(pem))
    key_file.write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return LocalCa(ca_file, cert_file, key_file)


def _builder(subject: x509.Name, issuer: x509.Name, public_key: Any, now: datetime.datetime) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
    )


@dataclass
class Route:
    """One response. ``trickle`` sends the body a byte at a time, this many seconds apart."""

    body: bytes
    status: int = 200
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})
    content_length: bool = True
    trickle: float | None = None


@dataclass(frozen=True)
class Seen:
    path: str
    host: str | None


class DocServer:
    """Context manager: a TLS server on 127.0.0.1 answering ``routes`` (path -> Route); 404 otherwise."""

    def __init__(self, ca: LocalCa) -> None:
        self.routes: dict[str, Route] = {}
        self.seen: list[Seen] = []
        self._stop = threading.Event()
        self._server = _TlsServer((LOOPBACK, 0), _handler(self), ca.server_context())
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, path: str, host: str = "localhost") -> str:
        return f"https://{host}:{self.port}{path}"

    def paths_seen(self) -> list[str]:
        return [s.path for s in self.seen]

    def serve_json(self, path: str, doc: object, *, cache_control: str | None = None, **headers: str) -> None:
        all_headers = {"Content-Type": "application/json", **headers}
        if cache_control is not None:
            all_headers["Cache-Control"] = cache_control
        self.routes[path] = Route(json.dumps(doc).encode(), headers=all_headers)

    def __enter__(self) -> DocServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)


class _TlsServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], ctx: ssl.SSLContext) -> None:
        super().__init__(address, handler)
        self._ctx = ctx

    def finish_request(self, request: Any, client_address: Any) -> None:
        try:
            tls = self._ctx.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return  # the client refused our certificate: it never got to send a request
        try:
            super().finish_request(tls, client_address)
        finally:
            tls.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hangs up mid-trickle is expected


def _handler(server: DocServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            server.seen.append(Seen(self.path, self.headers.get("Host")))
            route = server.routes.get(self.path) or Route(b'{"error":"not found"}', status=404)
            self.send_response(route.status)
            for name, value in route.headers.items():
                self.send_header(name, value)
            if route.content_length:
                self.send_header("Content-Length", str(len(route.body)))
            self.end_headers()
            if route.trickle is None:
                self.wfile.write(route.body)
                return
            for byte in route.body:
                if server._stop.is_set():
                    return
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(route.trickle)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def document(client_id: str, **extra: Any) -> dict[str, Any]:
    """A valid public client's metadata document for ``client_id``."""
    return {
        "client_id": client_id,
        "client_name": "Doc Assistant",
        "redirect_uris": [REDIRECT],
        "token_endpoint_auth_method": "none",
        **extra,
    }


class ScriptedResolver:
    """A DNS stand-in: each call for a name returns the next answer in its script (the last one repeats)."""

    def __init__(self, answers: dict[str, list[list[IPAddress]]]) -> None:
        self._answers = answers
        self.calls: list[str] = []

    async def __call__(self, host: str, port: int) -> list[IPAddress]:
        self.calls.append(host)
        script = self._answers.get(host)
        if not script:
            raise OSError(f"no such host {host}")
        index = min(self.calls.count(host), len(script)) - 1
        return script[index]


def ip(text: str) -> IPAddress:
    return ipaddress.ip_address(text)
