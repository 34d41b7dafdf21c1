"""``deputy audit verify | checkpoint | export | show``: check the chain, pin its head elsewhere, and read the log.

Exit codes: 0 success (verify: chain intact), 1 the log is not intact (or has nothing to checkpoint), 2 usage or
configuration error. Every command reads one consistent snapshot and never writes.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from deputy.audit.chain import AuditKeys, Head, Report
from deputy.audit.parallel import verify_database
from deputy.audit.report import EventTable, export_line
from deputy.config import load_settings
from deputy.errors import ConfigError
from deputy.keys import KeyRing
from deputy.storage.sql.audit import AuditFilter, AuditSnapshot, AuditUnavailableError, audit_snapshot
from deputy.storage.sql.engine import Database

__all__ = ["add_audit_parser", "parse_time"]

EXIT_OK = 0
EXIT_TAMPERED = 1


def parse_time(text: str) -> int:
    """Epoch seconds, or an ISO 8601 date or date-time (UTC unless it carries an offset)."""
    if re.fullmatch(r"\d{1,12}", text):
        return int(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not epoch seconds or ISO 8601: {text!r}") from None
    return int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp())


def add_audit_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``audit verify``, ``audit checkpoint``, ``audit export`` and ``audit show``; each sets ``func``."""
    audit = sub.add_parser(
        "audit",
        help="verify, checkpoint, export or query the audit log",
        description="The audit log is an HMAC chain (docs/audit.md). Verify it, print a signed checkpoint of its "
        "head to keep elsewhere, export it as JSON lines, or answer who touched whose data.",
    )
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    check = audit_sub.add_parser(
        "verify",
        help="check every entry's MAC and link, and the signed head",
        description="Exit 0 if the chain is intact; exit 1 naming the first bad entry and the kind of tampering.",
    )
    check.add_argument("--checkpoint", type=Path, metavar="FILE", help="also require this (earlier) checkpoint")
    check.add_argument(
        "--workers", type=int, default=None, help="processes for a long log (default: one per CPU; 1: a single pass)"
    )
    check.set_defaults(func=run_verify)
    point = audit_sub.add_parser(
        "checkpoint",
        help="print the signed head of the chain as one JSON line",
        description="Ship the line somewhere the database's administrators cannot write; `verify --checkpoint` "
        "then detects a rollback of the log to any state before it.",
    )
    point.set_defaults(func=run_checkpoint)
    export = audit_sub.add_parser(
        "export",
        help="stream entries as JSON lines",
        description="One JSON object per entry (with seq, key_id and mac) on stdout, oldest first.",
    )
    export.add_argument("--since", type=parse_time, required=True, metavar="TIME", help="epoch seconds or ISO 8601")
    export.add_argument("--until", type=parse_time, metavar="TIME", help="inclusive upper bound")
    export.add_argument("--format", choices=["jsonl"], default="jsonl")
    export.set_defaults(func=run_export)
    show = audit_sub.add_parser(
        "show",
        help="did a client touch a user's data, and when",
        description="A table of time, event, tool or operation and outcome, then a one-line summary.",
    )
    show.add_argument("--client", metavar="CLIENT_ID", help="only this client's events")
    show.add_argument("--user", metavar="USER_ID", help="only events about this user")
    show.add_argument("--since", type=parse_time, metavar="TIME", help="epoch seconds or ISO 8601")
    show.add_argument("--until", type=parse_time, metavar="TIME", help="inclusive upper bound")
    show.set_defaults(func=run_show)
    for command in (check, point, export, show):
        command.add_argument("--config", type=Path, required=True, help="TOML configuration file")


def run_verify(args: argparse.Namespace) -> int:
    checkpoint = _read_checkpoint(args.checkpoint) if args.checkpoint else None
    settings = load_settings(args.config)
    keys = _ring(args.config).audit
    _check_database_exists(settings.storage.url)
    try:
        report = verify_database(settings.storage.url, keys, checkpoint=checkpoint, workers=args.workers)
    except (SQLAlchemyError, AuditUnavailableError) as exc:
        reason = f"{type(exc).__name__}; is the schema migrated (`deputy migrate`)?"
        raise ConfigError(f"storage.url: cannot read the audit log ({reason})") from None
    print(_summary(report, checkpoint))
    return EXIT_OK if report.ok else EXIT_TAMPERED


def run_checkpoint(args: argparse.Namespace) -> int:
    with _snapshot(args.config) as (snap, keys):
        head = snap.head()
    if head.mac is None:
        print("deputy: the audit log has no chained entry yet; nothing to checkpoint", file=sys.stderr)
        return EXIT_TAMPERED
    if keys.check_head(head) is not True:
        print("deputy: the audit head's signature does not verify; run `deputy audit verify`", file=sys.stderr)
        return EXIT_TAMPERED
    print(json.dumps(head.to_json(), sort_keys=True, separators=(",", ":")))
    return EXIT_OK


def run_export(args: argparse.Namespace) -> int:
    out = sys.stdout
    with _snapshot(args.config) as (snap, _keys):
        for row in snap.rows(AuditFilter(since=args.since, until=args.until)):
            out.write(export_line(row))
    return EXIT_OK


def run_show(args: argparse.Namespace) -> int:
    table = EventTable(client_id=args.client, user_id=args.user)
    where = AuditFilter(since=args.since, until=args.until, client_id=args.client, user_id=args.user)
    with _snapshot(args.config) as (snap, _keys):
        print(table.header())
        for row in snap.rows(where):
            print(table.line(row))
    print(table.summary())
    return EXIT_OK


def _summary(report: Report, checkpoint: Head | None) -> str:
    legacy = f"; {report.legacy} older entries predate the chain (legacy, unverified)" if report.legacy else ""
    if report.ok:
        pinned = f"; checkpoint at entry {checkpoint.seq} present" if checkpoint else ""
        return f"{report.verified} entries verified, chain intact{pinned}{legacy}"
    return (
        f"audit log NOT intact: first bad entry seq {report.bad_seq} ({report.problem}): {report.reason}; "
        f"{report.verified} entries verified before it{legacy}"
    )


def _read_checkpoint(path: Path) -> Head:
    """The last non-empty line of ``path`` (a file of checkpoints, appended over time, works as is).

    Raises:
        ConfigError: unreadable, empty or not a checkpoint.
    """
    try:
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"checkpoint: cannot read {path} ({type(exc).__name__})") from None
    if not lines:
        raise ConfigError(f"checkpoint: {path} is empty")
    try:
        data = json.loads(lines[-1])
    except ValueError:
        raise ConfigError(f"checkpoint: the last line of {path} is not JSON") from None
    return Head.from_json(data)


def _check_database_exists(storage_url: str) -> None:
    url = make_url(storage_url)
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists():
        raise ConfigError(f"storage.url: {url.database} does not exist")


def _ring(config: Path) -> KeyRing:
    from deputy.broker.rotation import load_key_ring

    settings = load_settings(config)
    return load_key_ring(settings.keys.model_copy(update={"create_if_missing": False}), int(time.time()))


@contextmanager
def _snapshot(config: Path) -> Iterator[tuple[AuditSnapshot, AuditKeys]]:
    """The configured database's audit log in one snapshot, and the audit keys.

    Raises:
        ConfigError: bad configuration or key ring, no database there, or a schema without the chain.
    """
    settings = load_settings(config)
    ring = _ring(config)
    _check_database_exists(settings.storage.url)
    db = Database(settings.storage.url)
    try:
        with audit_snapshot(db) as snap:
            yield snap, AuditKeys(ring.audit)
    except (SQLAlchemyError, AuditUnavailableError) as exc:
        reason = f"{type(exc).__name__}; is the schema migrated (`deputy migrate`)?"
        raise ConfigError(f"storage.url: cannot read the audit log ({reason})") from None
    finally:
        db.dispose()
