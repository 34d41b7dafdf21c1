"""Vault key rotation without downtime: reload the ring when its file changes, re-encrypt old entries in the
background, and refuse to start with a ring that cannot open what the database holds.

Rotation is three steps, none of which stops a running instance:

1. ``deputy keys rotate --purpose vault`` appends a new key to the ring file (the newest key seals).
2. Every instance notices the file changed (``KeyRingWatcher``: a ``stat`` every ``keys.reload_interval_seconds``,
   and at once when the vault meets a key id it does not know, since another instance may have re-encrypted with
   the new key first) and adopts the new ring in place.
3. ``reencrypt_pass`` re-seals entries under the newest key in small transactions. Each write is a
   compare-and-set on the old ciphertext, so it never undoes a refresh that replaced the entry meanwhile, and
   several instances (or the CLI) may run it at once. An entry that no key opens is quarantined (kept, out of use,
   audited), never retried forever and never fatal.

``deputy keys status`` then shows when no entry is left under the old key, which may then be retired.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import anyio
import anyio.to_thread

from deputy.audit.log import audit
from deputy.broker.vault import UnknownKeyError, Vault, VaultError, broker_vault
from deputy.config import KeySettings
from deputy.errors import ConfigError
from deputy.keys import KeyRing
from deputy.service.context import ServiceContext
from deputy.storage.sql.store import SqlStore
from deputy.storage.sql.vault import SealedCredential

__all__ = [
    "KeyRingWatcher",
    "ReencryptReport",
    "check_vault_keys",
    "load_key_ring",
    "make_vault",
    "quarantine",
    "reencrypt_pass",
    "run_key_maintenance",
]

log = logging.getLogger("deputy.broker")

SAMPLE = 5  # entries tried per key at start-up
BATCH = 200


def load_key_ring(settings: KeySettings, now: int) -> KeyRing:
    """The ring from ``keys.inline`` (environment) if set, else from ``keys.file``.

    Raises:
        ConfigError: missing (and not to be created), unreadable or malformed ring.
    """
    if settings.inline is not None:
        return KeyRing.from_json(settings.inline.get_secret_value(), "keys.inline")
    return KeyRing.load(settings.file, create_if_missing=settings.create_if_missing, now=now)


class KeyRingWatcher:
    """Re-reads the ring file when it changes and adopts it into the live ``KeyRing``.

    A ring that fails to load, or that no longer holds a key the running ring has, is refused (logged, the running
    ring stays): retiring a key is a deliberate act done with a restart, never a side effect of a bad write.
    """

    def __init__(self, ring: KeyRing, settings: KeySettings) -> None:
        self._ring = ring
        self._path: Path | None = None if settings.inline is not None else settings.file
        self._lock = threading.Lock()
        self._seen = self._stamp()

    def _stamp(self) -> tuple[int, int, int] | None:
        if self._path is None:
            return None
        try:
            st = self._path.stat()
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def reload_if_changed(self) -> bool:
        """True when a new ring was adopted."""
        if self._path is None:
            return False
        with self._lock:
            stamp = self._stamp()
            if stamp is None or stamp == self._seen:
                return False
            self._seen = stamp
            try:
                fresh = KeyRing.load(self._path, create_if_missing=False, now=0)
            except ConfigError as exc:
                log.error("key ring reload refused: %s", exc)
                return False
            old, new = self._ring.kids(), fresh.kids()
            dropped = {p: sorted(set(old[p]) - set(new[p])) for p in old if set(old[p]) - set(new[p])}
            if dropped:
                log.error("key ring reload refused: it drops keys %s (retire keys with a restart)", dropped)
                return False
            if new == old:
                return False
            self._ring.adopt(fresh)
            log.info("key ring reloaded: current keys %s", {p: ids[-1] for p, ids in new.items()})
            return True


def make_vault(ring: KeyRing, watcher: KeyRingWatcher) -> Vault:
    """The vault for the composition root, which may not import ``deputy.broker.vault`` itself."""
    return Vault(ring, on_unknown_key=watcher.reload_if_changed)


def check_vault_keys(store: SqlStore, sealer: object, ring: KeyRing) -> None:
    """Start-up check: every key id the vault's entries name is in the ring, and opens at least one of them.

    A missing key or a different key under the same id (the wrong ring file) would otherwise surface later as
    every user being asked to re-authorize; a single unreadable entry among readable ones is corruption, handled
    per entry at call time, and does not stop start-up.

    Raises:
        ConfigError: naming the key id(s) and what to check.
    """
    vault = broker_vault(sealer)
    with store.read() as tx:
        counts = tx.vault.count_by_key()
        samples = {kid: tx.vault.sample(kid, SAMPLE) for kid in counts}
    known = set(ring.kids()["vault"])
    missing = sorted(set(counts) - known)
    if missing:
        raise ConfigError(
            f"keys: vault entries are sealed with key(s) {', '.join(missing)}, which the key ring does not hold "
            "(is keys.file the ring this database was written with?)"
        )
    for kid, entries in samples.items():
        if entries and not any(_opens(vault, e) for e in entries):
            raise ConfigError(
                f"keys: vault key {kid} does not open any of its entries: the key ring holds a different key "
                "under that id (wrong keys.file?)"
            )


def _opens(vault: Vault, sealed: SealedCredential) -> bool:
    try:
        vault.open(sealed)
    except VaultError:
        return False
    return True


def quarantine(store: SqlStore, sealed: SealedCredential, *, now: int) -> None:
    """Take an entry that does not open out of use, and say so in the audit log (never the bytes)."""
    with store.write() as tx:
        if tx.vault.quarantine(sealed, now=now):
            audit(
                tx.audit,
                "vault.entry_quarantined",
                at=now,
                outcome="error",
                user_id=sealed.user_id,
                upstream=sealed.upstream,
                purpose=sealed.purpose,
                key_id=sealed.key_id,
            )
    log.warning(
        "vault entry for user %s (%s, %s) does not open with key %s; quarantined",
        sealed.user_id,
        sealed.upstream,
        sealed.purpose,
        sealed.key_id,
    )


@dataclass
class ReencryptReport:
    reencrypted: int = 0
    changed_meanwhile: int = 0  # rewritten by a refresh (already under the new key) while we worked
    quarantined: int = 0
    skipped_unknown_key: int = 0  # under a key this ring does not hold (yet); left alone
    remaining: int = 0  # entries still under other keys after the pass


def reencrypt_pass(store: SqlStore, vault: Vault, *, now: int, batch: int = BATCH) -> ReencryptReport:
    """One pass over every entry not under the current vault key, in transactions of ``batch`` rows."""
    report = ReencryptReport()
    current = vault.current_kid
    after: tuple[str, str, str] | None = None
    while True:
        with store.read() as tx:
            rows = tx.vault.not_under(current, after=after, limit=batch)
        if not rows:
            break
        after = (rows[-1].user_id, rows[-1].upstream, rows[-1].purpose)
        fresh: list[tuple[SealedCredential, SealedCredential]] = []
        for old in rows:
            try:
                secret = vault.open(old)
            except UnknownKeyError:  # another instance's newer key, not yet in this ring: not corruption
                report.skipped_unknown_key += 1
                continue
            except VaultError:
                quarantine(store, old, now=now)
                report.quarantined += 1
                continue
            new = vault.seal(
                user_id=old.user_id,
                upstream=old.upstream,
                purpose=old.purpose,
                secret=secret,
                expires_at=old.expires_at,
                now=now,
            )
            fresh.append((old, new))
        with store.write() as tx:
            for old, new in fresh:
                if tx.vault.replace_if_unchanged(old, new):
                    report.reencrypted += 1
                else:
                    report.changed_meanwhile += 1
    with store.read() as tx:
        counts = tx.vault.count_by_key()
    report.remaining = sum(n for kid, n in counts.items() if kid != current)
    if report.reencrypted or report.quarantined:
        log.info(
            "vault re-encryption under key %s: %d re-encrypted, %d quarantined, %d left",
            current,
            report.reencrypted,
            report.quarantined,
            report.remaining,
        )
    return report


async def run_key_maintenance(ctx: ServiceContext) -> None:
    """The background half of rotation, for the app's lifespan: poll the ring file; while the vault holds
    entries under an older key, re-encrypt them. Failures are logged and retried on the next round; they never
    take the instance down (the old key still opens everything it sealed)."""
    vault = broker_vault(ctx.vault)
    keys = ctx.settings.keys
    next_pass = 0.0
    while True:
        await anyio.sleep(keys.reload_interval_seconds)
        try:
            if ctx.key_watcher is not None:
                await anyio.to_thread.run_sync(ctx.key_watcher.reload_if_changed)
            if len(ctx.keys.vault) > 1 and time.monotonic() >= next_pass:
                next_pass = time.monotonic() + keys.reencrypt_interval_seconds
                await anyio.to_thread.run_sync(lambda: reencrypt_pass(ctx.store, vault, now=ctx.clock.now()))
        except Exception:  # a database blip must not end the loop
            log.exception("key maintenance round failed; retrying later")
