"""The ``deputy`` command: thin wrappers around the services (serve, demo, migrate, keys)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from deputy import __version__
from deputy.config import environment_has_overrides, load_settings
from deputy.errors import ConfigError, DeputyError

__all__ = ["main"]


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from deputy.logs import configure_logging

    configure_logging(args.log_format, args.log_level)  # first: importing the app already logs
    from deputy.app import create_app

    settings = load_settings(args.config)
    app = create_app(settings)
    server = settings.server
    signal.signal(signal.SIGTERM, _stopped)
    uvicorn.run(
        app,
        host=server.host,
        port=server.port,
        proxy_headers=False,
        server_header=False,
        log_level=args.log_level,
        log_config=None,  # keep the handlers configure_logging installed
        timeout_graceful_shutdown=server.shutdown_grace_seconds,
        ssl_certfile=str(server.tls_cert) if server.tls_cert else None,
        ssl_keyfile=str(server.tls_key) if server.tls_key else None,
    )
    return 0


def _stopped(signum: int, frame: object) -> None:
    """On SIGTERM uvicorn stops accepting connections, lets in-flight requests finish (up to the grace period),
    runs the app's shutdown, and then raises the signal again for whatever handler was there before it: this one,
    so that a requested stop ends with status 0 rather than as killed by a signal."""
    raise SystemExit(0)


def _demo(args: argparse.Namespace) -> int:
    from deputy.demo.runner import run_demo

    run_demo(data_dir=args.data_dir, deputy_port=args.port, acme_port=args.acme_port, client_port=args.client_port)
    return 0


def _migrate(args: argparse.Namespace) -> int:
    """Exactly what an instance does at start-up before serving: migrate, check the key ring against the vault,
    sign a new audit chain's head (which needs the audit key, so the key ring must be readable here too)."""
    from deputy.app import build_context

    settings = load_settings(args.config)
    build_context(settings).store.db.dispose()
    print("schema is up to date")
    return 0


def _keys_init(args: argparse.Namespace) -> int:
    from deputy.keys import KeyRing

    path: Path = args.file
    if path.exists():
        raise ConfigError(f"keys.file: {path} already exists; refusing to overwrite key material")
    KeyRing.generate(int(time.time())).save(path)
    print(f"wrote a new key ring to {path} (mode 0600)")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="deputy", description="MCP authorization proxy with per-client consent.")
    parser.add_argument("--version", action="version", version=f"deputy {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser(
        "serve",
        help="run Deputy with a configuration file",
        description="Run the authorization server (and MCP endpoint) from a TOML configuration.",
    )
    serve.add_argument("--config", type=Path, required=True, help="TOML configuration file")
    serve.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    serve.add_argument(
        "--log-format", default="json", choices=["json", "text"], help="one JSON object per line, or readable text"
    )
    serve.set_defaults(func=_serve)

    demo = sub.add_parser(
        "demo",
        help="run Deputy in front of the bundled Acme CRM demo upstream",
        description="Start Acme CRM (a demo third-party OAuth API), Deputy and a demo client on "
        "loopback, with SQLite storage, and print what to try.",
    )
    demo.add_argument("--data-dir", type=Path, default=Path("deputy-demo-data"), help="where SQLite and keys live")
    demo.add_argument("--port", type=int, default=8000, help="Deputy's port (127.0.0.1)")
    demo.add_argument("--acme-port", type=int, default=9100, help="Acme CRM's port (localhost)")
    demo.add_argument("--client-port", type=int, default=8765, help="the demo MCP client's port (127.0.0.1)")
    demo.set_defaults(func=_demo)

    migrate = sub.add_parser(
        "migrate",
        help="bring the database schema up to date",
        description="Apply schema migrations; safe to run from several instances at once.",
    )
    migrate.add_argument("--config", type=Path, required=True, help="TOML configuration file")
    migrate.set_defaults(func=_migrate)

    keys = sub.add_parser("keys", help="manage the key ring", description="Create or inspect Deputy's key ring.")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    init = keys_sub.add_parser(
        "init",
        help="create a new key ring file",
        description="Generate signing, hashing, vault, audit and intent keys into a new file.",
    )
    init.add_argument("--file", type=Path, required=True, help="where to write the key ring (must not exist)")
    init.set_defaults(func=_keys_init)
    from deputy.broker.keys_cli import add_keys_commands

    add_keys_commands(keys_sub)

    from deputy.audit.cli import add_audit_parser
    from deputy.resource.tools_cli import add_tools_parser
    from deputy.scanner.cli import add_scan_parser
    from deputy.service.admin_cli import add_clients_parser, add_consents_parser

    add_tools_parser(sub)
    add_scan_parser(sub)
    add_audit_parser(sub)
    add_consents_parser(sub)
    add_clients_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)  # one line per plugin at every start
    try:
        return int(args.func(args))
    except ConfigError as exc:
        hint = " (DEPUTY_* environment variables are set and override the file)" if environment_has_overrides() else ""
        print(f"deputy: configuration error: {exc}{hint}", file=sys.stderr)
        return 2
    except DeputyError as exc:
        print(f"deputy: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
