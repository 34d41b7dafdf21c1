"""``deputy tools import`` and ``deputy tools check``: draft a tool catalogue from OpenAPI, and validate one.

The importer writes a draft for an operator to review, not a catalogue to trust blindly: every operation it could
not express is listed on stderr, and it never overwrites an existing file unless told to.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from deputy.errors import ConfigError
from deputy.resource.catalogue import ScopeRule, catalogue_from_openapi, dump_catalogue, load_catalogue

__all__ = ["add_tools_parser"]

USAGE_ERROR = 2


def add_tools_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``tools import`` and ``tools check``; each sets ``func(args) -> int`` (0 ok, 2 config/usage error)."""
    tools = sub.add_parser(
        "tools",
        help="import or check the MCP tool catalogue",
        description="Draft a tool catalogue from an OpenAPI document, or validate an existing catalogue.",
    )
    tools_sub = tools.add_subparsers(dest="tools_command", required=True)
    importer = tools_sub.add_parser(
        "import",
        help="draft a tool catalogue (TOML) from an OpenAPI 3.x JSON document",
        description="Turn each operation with an operationId into a tool; operations that cannot be expressed are "
        "listed on stderr. Without --read-scope/--write-scope the upstream's own OAuth scope names are kept.",
    )
    importer.add_argument("openapi_file", metavar="OPENAPI_FILE", type=Path, help="OpenAPI 3.x document (JSON)")
    importer.add_argument("--out", type=Path, metavar="FILE", help="write the catalogue here instead of stdout")
    importer.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    importer.add_argument("--read-scope", metavar="S", help="Deputy scope for every read (GET) tool")
    importer.add_argument("--write-scope", metavar="S", help="Deputy scope for every write tool")
    importer.set_defaults(func=run_import)
    check = tools_sub.add_parser(
        "check",
        help="validate a tool catalogue",
        description="Load and validate a tool catalogue and print how many read and write tools it has.",
    )
    check.add_argument("catalogue_file", metavar="CATALOGUE_FILE", type=Path, help="tool catalogue (TOML)")
    check.set_defaults(func=run_check)


def run_import(args: argparse.Namespace) -> int:
    try:
        doc = _read_openapi(args.openapi_file)
        catalogue, skipped = catalogue_from_openapi(
            doc, read_scope=_rule(args.read_scope), write_scope=_rule(args.write_scope)
        )
    except ConfigError as exc:
        return _fail(f"configuration error: {exc}")
    for op in skipped:
        named = f" ({op.operation_id})" if op.operation_id else ""
        print(f"skipped {op.method} {op.path}{named}: {op.reason}", file=sys.stderr)
    if not catalogue.tools:
        return _fail("no operation could be turned into a tool")
    text = dump_catalogue(catalogue)
    if args.out is None:
        sys.stdout.write(text)
        return 0
    try:
        with args.out.open("w" if args.force else "x", encoding="utf-8") as out:
            out.write(text)
    except FileExistsError:
        return _fail(f"{args.out} already exists; pass --force to overwrite it")
    except OSError as exc:
        return _fail(f"cannot write {args.out} ({exc.strerror or type(exc).__name__})")
    print(f"wrote {len(catalogue.tools)} tools to {args.out}", file=sys.stderr)
    return 0


def run_check(args: argparse.Namespace) -> int:
    try:
        catalogue = load_catalogue(args.catalogue_file)
    except ConfigError as exc:
        return _fail(f"configuration error: {args.catalogue_file}: {exc}")
    reads, writes = len(catalogue.read_tools()), len(catalogue.write_tools())
    print(f"{args.catalogue_file}: {len(catalogue.tools)} tools, {reads} read, {writes} write")
    return 0


def _rule(scope: str | None) -> ScopeRule:
    return scope if scope is not None else _same


def _same(scope: str) -> str:
    return scope


def _read_openapi(path: Path) -> Any:
    if path.suffix.lower() in (".yaml", ".yml"):
        raise ConfigError(f"{path}: YAML is not supported; convert the document to JSON")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror or type(exc).__name__})") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except (UnicodeDecodeError, RecursionError, ValueError) as exc:
        raise ConfigError(f"{path}: not a usable JSON document ({type(exc).__name__})") from None


def _fail(message: str) -> int:
    print(f"deputy: {message}", file=sys.stderr)
    return USAGE_ERROR
