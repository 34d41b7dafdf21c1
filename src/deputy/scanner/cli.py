"""``deputy scan``: argument parsing, confirmation, progress on stderr, output and exit codes.

Exit codes: 0 no check failed, 1 at least one check failed, 2 usage or connection error (or active probes not
confirmed). Wire it into ``deputy`` with ``add_scan_parser(sub)``; ``python -m deputy.scanner`` works standalone.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TextIO

from deputy.scanner.checklist import render_checklist
from deputy.scanner.probe import MAX_BURST
from deputy.scanner.report import render_json, render_sarif, render_table
from deputy.scanner.runner import ScanAborted, ScanConfig, ScanError, run_scan

__all__ = ["add_scan_parser", "build_parser", "main", "run_scan_command"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_ERROR = 2

_DESCRIPTION = """\
Check an MCP server's authorization against the MCP spec and the confused-deputy rules, starting from its MCP URL
alone (401 challenge -> RFC 9728 protected resource metadata -> RFC 8414 authorization server metadata).

Passive checks (default) only read metadata and send unauthenticated or deliberately invalid requests to the MCP
endpoint. --active also registers a throwaway client and probes /authorize and /register; it asks for
confirmation unless --yes. The scanner contacts only the URL's host and the hosts the server's own metadata names
(plus --allow-host); redirects elsewhere are recorded, never followed.

Exit status: 0 no check failed, 1 a check failed, 2 usage or connection error."""


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


def _burst(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= value <= MAX_BURST:
        raise argparse.ArgumentTypeError(f"must be between 0 and {MAX_BURST}")
    return value


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("url", nargs="?", help="the MCP server URL, e.g. https://mcp.example.com/mcp")
    parser.add_argument("--active", action="store_true", help="also run the active probes (registers clients)")
    parser.add_argument("--yes", "-y", action="store_true", help="do not ask before the active probes")
    token = parser.add_mutually_exclusive_group()
    token.add_argument(
        "--upstream-token", metavar="TOKEN", help="a token issued by the upstream provider: must be refused"
    )
    token.add_argument("--upstream-token-file", metavar="FILE", type=Path, help="read --upstream-token from a file")
    parser.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    parser.add_argument("--sarif", metavar="FILE", type=Path, help="also write a SARIF 2.1.0 report to FILE")
    parser.add_argument("--timeout", type=_seconds, default=10.0, metavar="SECONDS", help="per request (default 10)")
    parser.add_argument(
        "--max-seconds", type=_seconds, default=120.0, metavar="SECONDS", help="whole scan (default 120)"
    )
    parser.add_argument(
        "--burst", type=_burst, default=30, metavar="N", help=f"registrations in the rate-limit burst (0-{MAX_BURST})"
    )
    parser.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="HOST[:PORT]",
        help="another host the scanner may contact (repeatable)",
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")
    parser.add_argument(
        "--checklist", action="store_true", help="print the confused-deputy audit checklist as Markdown and exit"
    )


def add_scan_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``scan`` to the ``deputy`` subcommands."""
    scan = sub.add_parser(
        "scan",
        help="scan an MCP server's authorization for confused-deputy and spec problems",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _configure(scan)
    scan.set_defaults(func=run_scan_command)


class _Progress:
    """One updating line on a terminal, plain lines otherwise; always stderr, never stdout."""

    def __init__(self, stream: TextIO, *, enabled: bool) -> None:
        self.stream = stream
        self.enabled = enabled
        self.tty = enabled and stream.isatty()
        self.start = time.monotonic()

    def __call__(self, message: str) -> None:
        if not self.enabled:
            return
        line = f"[{time.monotonic() - self.start:5.1f}s] {message}"
        if self.tty:
            self.stream.write("\r\x1b[K" + line[:120] + ("\n" if message == "done" else ""))
        else:
            self.stream.write(f"scan: {line}\n")
        self.stream.flush()


def _confirm_on_stdin(plan: str) -> bool:
    sys.stderr.write(plan + "\nProceed with the active probes? [y/N] ")
    sys.stderr.flush()
    answer = sys.stdin.readline()
    return answer.strip().lower() in ("y", "yes")


@contextlib.contextmanager
def _quiet_http_logs() -> Iterator[None]:
    """httpx logs every request line at INFO, URLs included: keep them out of the operator's logs."""
    loggers = [logging.getLogger(name) for name in ("httpx", "httpcore")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _error(message: str) -> int:
    print(f"deputy scan: {message}", file=sys.stderr)
    return EXIT_ERROR


def _upstream_token(args: argparse.Namespace) -> str | None:
    if args.upstream_token_file is not None:
        try:
            return str(args.upstream_token_file.read_text(encoding="utf-8")).strip() or None
        except OSError as exc:
            raise ScanError(f"cannot read --upstream-token-file: {exc.strerror}") from None
    token = args.upstream_token
    return str(token) if token else None


def run_scan_command(args: argparse.Namespace) -> int:
    if args.checklist:
        sys.stdout.write(render_checklist())
        return EXIT_OK
    if not args.url:
        return _error("a URL is required (or --checklist)")
    try:
        config = ScanConfig(
            url=args.url,
            active=args.active,
            upstream_token=_upstream_token(args),
            timeout=args.timeout,
            max_seconds=args.max_seconds,
            burst=args.burst,
            allow_hosts=tuple(args.allow_host),
        )
        confirm = (lambda _plan: True) if args.yes else _confirm_on_stdin
        with _quiet_http_logs():
            report = run_scan(config, progress=_Progress(sys.stderr, enabled=not args.quiet), confirm=confirm)
    except ScanAborted as exc:
        return _error(str(exc))
    except ScanError as exc:
        return _error(str(exc))
    sys.stdout.write(render_json(report) if args.json else render_table(report))
    if args.sarif is not None:
        try:
            args.sarif.write_text(render_sarif(report), encoding="utf-8")
        except OSError as exc:
            return _error(f"cannot write {args.sarif}: {exc.strerror}")
    return EXIT_FAILED if report.failed else EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    """A standalone ``deputy-scan`` parser (``python -m deputy.scanner``)."""
    parser = argparse.ArgumentParser(
        prog="deputy scan", description=_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    _configure(parser)
    parser.set_defaults(func=run_scan_command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))
