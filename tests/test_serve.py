"""`deputy serve` as an operator runs it: a real process, a configuration file, and TLS served directly."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from support import minimal_config


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_over_tls_from_a_config_file(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    port = _free_port()
    base = f"https://127.0.0.1:{port}"
    config = minimal_config(
        tmp_path / "deputy.toml",
        storage_url=f"sqlite:///{tmp_path / 'deputy.db'}",
        keys_file=tmp_path / "keys.json",
        server=f'base_url = "{base}"\nport = {port}\ntls_cert = "{cert}"\ntls_key = "{key}"',
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "deputy", "serve", "--config", str(config), "--log-level", "warning"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    context = ssl.create_default_context(cafile=str(cert))
    try:
        meta = None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and meta is None:
            try:
                meta = httpx.get(base + "/.well-known/oauth-authorization-server", verify=context, timeout=2).json()
            except httpx.TransportError:
                time.sleep(0.2)
        assert meta is not None, "deputy serve did not come up over TLS"
        assert meta["issuer"] == base and meta["token_endpoint"] == base + "/token"
        challenge = httpx.post(base + "/mcp", verify=context, timeout=5)
        assert (
            challenge.status_code == 401
            and base + "/.well-known/oauth-protected-resource/mcp" in challenge.headers["www-authenticate"]
        )
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        if proc.stdout is not None:
            proc.stdout.close()
    assert oct((tmp_path / "keys.json").stat().st_mode & 0o777) == "0o600"
