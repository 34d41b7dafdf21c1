"""``deputy keys rotate | status | retire``: key rotation from the command line, with running instances up.

``rotate`` only appends a key to the ring file (atomically, mode 0600); running instances adopt it within
``keys.reload_interval_seconds`` and re-encrypt vault entries in the background. ``--reencrypt`` does the
re-encryption here and now as well (safe alongside running instances: every write is a compare-and-set).
``status`` answers "may I retire the old key yet?"; ``retire`` refuses while any entry still needs the key.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from deputy.config import Settings, load_settings
from deputy.errors import ConfigError
from deputy.keys import IntentKey, KeyRing, SecretKey, SigningKey

__all__ = ["add_keys_commands"]

PURPOSES = ("signing", "hmac", "vault", "audit", "intent")


def _ring_file(settings: Settings) -> Path:
    if settings.keys.inline is not None:
        raise ConfigError(
            "keys.inline: a ring given in the environment cannot be changed in place; rotate a copy in a file "
            "(deputy keys rotate with keys.file) and deploy the new value"
        )
    return settings.keys.file


def _rotate(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    path = _ring_file(settings)
    now = int(time.time())
    ring = KeyRing.load(path, create_if_missing=False, now=now).rotated(args.purpose, now)
    ring.save(path)
    kid = ring.kids()[args.purpose][-1]
    print(f"added {args.purpose} key {kid} to {path}; it is now the current {args.purpose} key")
    print(f"running instances adopt it within {settings.keys.reload_interval_seconds:g} s")
    if args.purpose == "vault":
        if args.reencrypt:
            report = _reencrypt(settings)
            print(
                f"re-encrypted {report['reencrypted']} vault entries ({report['changed_meanwhile']} rewritten by "
                f"a refresh meanwhile, {report['quarantined']} quarantined); {report['remaining']} left under "
                "older keys"
            )
        else:
            print(
                "running instances re-encrypt vault entries in the background every "
                f"{settings.keys.reencrypt_interval_seconds:g} s; `deputy keys status` shows progress"
            )
    return 0


def _reencrypt(settings: Settings) -> dict[str, int]:
    from deputy.app import build_context
    from deputy.broker.rotation import reencrypt_pass
    from deputy.broker.vault import broker_vault

    ctx = build_context(settings, migrate=False)
    try:
        report = reencrypt_pass(ctx.store, broker_vault(ctx.vault), now=ctx.clock.now())
    finally:
        ctx.store.db.dispose()
    return dict(vars(report))


def key_status(settings: Settings) -> dict[str, Any]:
    """Keys by purpose (id, creation time, which is current) and the vault entries each key still covers."""
    from deputy.app import build_context
    from deputy.broker.rotation import load_key_ring

    ring = load_key_ring(settings.keys, int(time.time()))
    ctx = build_context(settings, migrate=False)
    try:
        with ctx.store.read() as tx:
            covered = tx.vault.count_by_key()
            quarantined = tx.vault.count_quarantined()
    finally:
        ctx.store.db.dispose()
    groups: dict[str, tuple[SecretKey | SigningKey | IntentKey, ...]] = {
        "signing": ring.signing,
        "hmac": ring.hmac_keys,
        "vault": ring.vault,
        "audit": ring.audit,
        "intent": ring.intent,
    }
    status: dict[str, Any] = {}
    for purpose, keys in groups.items():
        status[purpose] = [
            {
                "kid": k.kid,
                "created_at": k.created_at,
                "current": i == len(keys) - 1,
                **({"vault_entries": covered.get(k.kid, 0)} if purpose == "vault" else {}),
            }
            for i, k in enumerate(keys)
        ]
    status["vault_unknown_keys"] = {kid: n for kid, n in covered.items() if kid not in {k.kid for k in ring.vault}}
    status["vault_quarantined"] = quarantined
    return status


def _status(args: argparse.Namespace) -> int:
    status = key_status(load_settings(args.config))
    if args.json:
        print(json.dumps(status, indent=1))
        return 0
    for purpose in PURPOSES:
        for key in status[purpose]:
            created = datetime.fromtimestamp(key["created_at"], UTC).strftime("%Y-%m-%d %H:%M:%SZ")
            mark = "current" if key["current"] else "older"
            line = f"{purpose:8} {key['kid']:24} {created}  {mark}"
            if purpose == "vault":
                line += f"  {key['vault_entries']} entries"
            print(line)
    if status["vault_unknown_keys"]:
        print(f"vault entries under keys the ring does not hold: {status['vault_unknown_keys']}")
    print(f"quarantined vault entries: {status['vault_quarantined']}")
    return 0


def _retire(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    path = _ring_file(settings)
    if args.purpose != "vault":
        raise ConfigError("keys retire: only vault keys can be retired safely from here (others need a plan)")
    status = key_status(settings)
    keys = status["vault"]
    target = next((k for k in keys if k["kid"] == args.kid), None)
    if target is None:
        raise ConfigError(f"keys retire: the ring has no vault key {args.kid}")
    if target["current"]:
        raise ConfigError("keys retire: that is the current vault key; rotate first")
    if target["vault_entries"]:
        raise ConfigError(
            f"keys retire: {target['vault_entries']} vault entries still need key {args.kid}; "
            "wait for re-encryption (or run `deputy keys rotate --reencrypt`)"
        )
    ring = KeyRing.load(path, create_if_missing=False, now=0)
    kept = [k for k in ring.vault if k.kid != args.kid]
    KeyRing(list(ring.signing), list(ring.hmac_keys), kept, list(ring.audit), ring.intent).save(path)
    print(f"retired vault key {args.kid}; restart instances to drop it from memory")
    return 0


def add_keys_commands(keys_sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    rotate = keys_sub.add_parser(
        "rotate",
        help="add a new current key for one purpose",
        description="Append a new key (it becomes current; old keys still verify or decrypt). Running instances "
        "adopt it and re-encrypt vault entries in the background.",
    )
    rotate.add_argument("--config", type=Path, required=True, help="TOML configuration file")
    rotate.add_argument("--purpose", choices=PURPOSES, default="vault", help="which key to rotate (default: vault)")
    rotate.add_argument("--reencrypt", action="store_true", help="also re-encrypt every vault entry now")
    rotate.set_defaults(func=_rotate)

    status = keys_sub.add_parser(
        "status",
        help="show keys and how many vault entries each still covers",
        description="List keys by purpose and count the vault entries sealed under each vault key.",
    )
    status.add_argument("--config", type=Path, required=True, help="TOML configuration file")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(func=_status)

    retire = keys_sub.add_parser(
        "retire",
        help="remove an old vault key once nothing needs it",
        description="Remove a vault key from the ring; refused while any entry is still sealed with it.",
    )
    retire.add_argument("--config", type=Path, required=True, help="TOML configuration file")
    retire.add_argument("--purpose", choices=["vault"], default="vault")
    retire.add_argument("--kid", required=True, help="the key id to retire")
    retire.set_defaults(func=_retire)
