"""``deputy consents list | revoke`` and ``deputy clients list | show | disable | enable``: operator commands.

They call the same services as the web pages (``deputy.service.connected_apps``, ``deputy.service.client_admin``),
so a revocation from here has the same effect as one on /apps and is audited the same way, as done by the operator.
Running instances see the change within a second. Nothing printed carries a secret or a hash of one.

Exit codes: 0 done, 1 no such user or client, 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from deputy.config import load_settings
from deputy.errors import DeputyError
from deputy.oauth.models import Client, User
from deputy.service.client_admin import ClientReport, describe_client, disable_client, enable_client, list_clients
from deputy.service.connected_apps import revoke_access
from deputy.service.context import ServiceContext
from deputy.storage.sql.identity import ConsentEntry

__all__ = ["add_clients_parser", "add_consents_parser"]


class UnknownUserError(DeputyError):
    """No user has this Deputy user id or upstream subject."""


@contextmanager
def _context(config: Path) -> Iterator[ServiceContext]:
    from deputy.app import build_context

    ctx = build_context(load_settings(config), migrate=False)
    try:
        yield ctx
    finally:
        ctx.store.db.dispose()


def _when(epoch: int | None) -> str | None:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if epoch is not None else None


def _find_user(ctx: ServiceContext, text: str) -> User:
    with ctx.store.read() as tx:
        user = tx.users.load(text) or tx.users.load_by_subject(text)
    if user is None:
        raise UnknownUserError(f"no user with Deputy user id or upstream subject {text!r}")
    return user


def _print(rows: list[dict[str, Any]], columns: tuple[str, ...], *, as_json: bool) -> None:
    if as_json:
        print(json.dumps(rows, indent=1))
        return
    for row in rows:
        print("  ".join(str(row[c]) if row[c] is not None else "-" for c in columns))


# --- consents ---------------------------------------------------------------------------------------------------


def _consent_row(entry: ConsentEntry) -> dict[str, Any]:
    c = entry.consent
    state = "revoked" if c.revoked_at is not None else "reauth-required" if c.reauth_required_at else "live"
    return {
        "client_id": c.client_id,
        "redirect_uri": c.redirect_uri,
        "scopes": " ".join(c.scopes),
        "state": state,
        "approved_at": _when(c.approved_at),
        "last_used_at": _when(c.last_used_at),
        "remember_until": _when(entry.remember_until) if c.revoked_at is None else None,
        "revoked_at": _when(c.revoked_at),
    }


def _consents_list(args: argparse.Namespace) -> int:
    with _context(args.config) as ctx:
        user = _find_user(ctx, args.user)
        with ctx.store.read() as tx:
            rows = [_consent_row(e) for e in tx.consents.list_entries(user.user_id)]
    if not args.json:
        print(f"user {user.user_id} ({user.display_name}, upstream subject {user.upstream_subject})")
    columns = ("client_id", "state", "approved_at", "last_used_at", "remember_until", "redirect_uri", "scopes")
    _print(rows, columns, as_json=args.json)
    return 0


def _consents_revoke(args: argparse.Namespace) -> int:
    with _context(args.config) as ctx:
        user = _find_user(ctx, args.user)
        done = revoke_access(ctx, user.user_id, args.client, actor="operator")
    print(f"revoked {done.consents} consent(s) and {done.grants} grant(s) of user {user.user_id} for {args.client}")
    return 0


def add_consents_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``consents list`` and ``consents revoke``; each sets ``func``."""
    consents = sub.add_parser(
        "consents",
        help="list or revoke a user's consents",
        description="What a user approved, and withdrawing it (docs/consent.md). USER is a Deputy user id (usr_…) "
        "or the user's subject at the upstream.",
    )
    consents_sub = consents.add_subparsers(dest="consents_command", required=True)
    show = consents_sub.add_parser("list", help="every consent of one user, revoked ones included")
    show.add_argument("--config", type=Path, required=True, help="TOML configuration file")
    show.add_argument("--user", required=True, metavar="USER")
    show.add_argument("--json", action="store_true", help="machine-readable output")
    show.set_defaults(func=_consents_list)
    revoke = consents_sub.add_parser(
        "revoke",
        help="revoke a user's consents for one client and every grant of the pair",
        description="Like Revoke on the user's applications page: the client's refresh tokens stop at once, its "
        "access tokens within a second. Audited as consent.revoked_by_operator.",
    )
    revoke.add_argument("--config", type=Path, required=True, help="TOML configuration file")
    revoke.add_argument("--user", required=True, metavar="USER")
    revoke.add_argument("--client", required=True, metavar="CLIENT_ID")
    revoke.set_defaults(func=_consents_revoke)


# --- clients ----------------------------------------------------------------------------------------------------


def _client_row(client: Client) -> dict[str, Any]:
    return {
        "client_id": client.client_id,
        "kind": client.kind.value,
        "client_name": client.client_name,
        "created_at": _when(client.created_at),
        "last_used_at": _when(client.last_used_at),
        "expires_at": _when(client.expires_at),
        "disabled_at": _when(client.disabled_at),
    }


def _clients_list(args: argparse.Namespace) -> int:
    with _context(args.config) as ctx:
        rows = [_client_row(c) for c in list_clients(ctx, args.kind)]
    columns = ("client_id", "kind", "created_at", "last_used_at", "expires_at", "disabled_at", "client_name")
    _print(rows, columns, as_json=args.json)
    return 0


def _report(report: ClientReport) -> dict[str, Any]:
    """Registration metadata without the secret's hash or the registering address's."""
    out: dict[str, Any] = {"client_id": report.client_id}
    client = report.client
    if client is not None:
        out |= _client_row(client)
        out |= {
            "redirect_uris": list(client.redirect_uris),
            "token_endpoint_auth_method": client.token_endpoint_auth_method,
            "client_secret": "set (stored as a keyed hash)" if client.secret_hash else None,
            "grant_types": list(client.grant_types),
            "scope": " ".join(client.scope) if client.scope is not None else None,
            "application_type": client.application_type,
            "client_uri": client.client_uri,
        }
    elif report.document:
        out |= {"kind": "document", "note": "a client metadata document: fetched when used, nothing stored"}
    out |= {"live_consents": report.live_consents, "last_used_at": _when(report.last_used_at)}
    return out


def _clients_show(args: argparse.Namespace) -> int:
    with _context(args.config) as ctx:
        report = _report(describe_client(ctx, args.client_id))
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        for key, value in report.items():
            print(f"{key}: {' '.join(value) if isinstance(value, list) else value if value is not None else '-'}")
    return 0


def _clients_disable(args: argparse.Namespace) -> int:
    with _context(args.config) as ctx:
        done = disable_client(ctx, args.client_id)
    state = "disabled" if done.newly else "was already disabled"
    print(f"{args.client_id} {state}; revoked {done.grants} grant(s); {done.forgotten} remembered consent(s) forgotten")
    return 0


def _clients_enable(args: argparse.Namespace) -> int:
    with _context(args.config) as ctx:
        changed = enable_client(ctx, args.client_id)
    print(f"{args.client_id} {'enabled' if changed else 'was not disabled'}; revoked grants stay revoked")
    return 0


def add_clients_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``clients list``, ``clients show``, ``clients disable`` and ``clients enable``; each sets ``func``."""
    clients = sub.add_parser(
        "clients",
        help="list, inspect, disable or enable clients",
        description="Registered (RFC 7591) and configured clients; disable refuses a client everywhere and "
        "revokes its grants (docs/consent.md).",
    )
    clients_sub = clients.add_subparsers(dest="clients_command", required=True)
    show_all = clients_sub.add_parser("list", help="clients, oldest first")
    show_all.add_argument("--config", type=Path, required=True, help="TOML configuration file")
    show_all.add_argument("--kind", choices=["registered", "static", "all"], default="all")
    show_all.add_argument("--json", action="store_true", help="machine-readable output")
    show_all.set_defaults(func=_clients_list)
    for name, func, text in (
        ("show", _clients_show, "registration metadata (no secrets), consent count, last use"),
        ("disable", _clients_disable, "refuse new authorizations and token requests, revoke every grant"),
        ("enable", _clients_enable, "lift the refusal (revoked grants stay revoked)"),
    ):
        command = clients_sub.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        command.add_argument("--config", type=Path, required=True, help="TOML configuration file")
        command.add_argument("client_id", metavar="CLIENT_ID")
        if name == "show":
            command.add_argument("--json", action="store_true", help="machine-readable output")
        command.set_defaults(func=func)
