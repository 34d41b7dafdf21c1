"""Verifying a long audit log on several cores.

An entry's MAC depends only on its own content and on the MAC *stored* in the entry before it. So contiguous ranges
of the log can be checked independently, each starting from the stored MAC just before it, and the results joined in
order. A range that ends early, or a stored MAC that is missing at a boundary, is a gap; anything a range finds
wrong is reported at the first bad entry, as one pass would. The end of the log is then checked against the signed
head and the checkpoint exactly as in ``deputy.audit.chain.verify``.

Each worker reads its range in its own snapshot. That is sound because the entries up to the head the parent read
never change in an untampered log (appends only add entries after it); anything that does not fit that picture
(entries without a MAC, entries beyond the head) is left to the single pass, which diagnoses it.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Final

from deputy.audit.chain import (
    GENESIS,
    AuditKeys,
    Head,
    Problem,
    Report,
    _check_end,
    _End,
    _walk,
    verify,
)
from deputy.keys import SecretKey
from deputy.storage.sql.audit import AuditFilter, audit_snapshot
from deputy.storage.sql.engine import Database

__all__ = ["MIN_PARALLEL", "verify_database"]

MIN_PARALLEL: Final = 200_000  # below this, starting worker processes costs more than it saves


def verify_database(
    url: str,
    keys: Sequence[SecretKey],
    *,
    checkpoint: Head | None = None,
    workers: int | None = None,
    min_parallel: int = MIN_PARALLEL,
) -> Report:
    """Verify the audit log of the database at ``url``: in one pass, or in ``workers`` ranges in parallel when the
    log is long and fully chained.

    Raises:
        ConfigError: ``checkpoint`` is not signed by a key of this ring.
        AuditUnavailableError, sqlalchemy.exc.SQLAlchemyError: the log cannot be read.
    """
    workers = workers or os.cpu_count() or 1
    db = Database(url)
    try:
        with audit_snapshot(db) as snap:
            head = snap.head()
            unchained, low, top, total = snap.shape()
            # Split only a log shaped as an intact one (1..head, every entry chained); the single pass diagnoses
            # anything else precisely.
            intact_shape = not unchained and low == 1 and top == head.seq and total == head.seq
            if workers < 2 or total < max(min_parallel, 2 * workers) or not intact_shape:
                return verify(snap.rows(), head, AuditKeys(keys), checkpoint=checkpoint)
    finally:
        db.dispose()
    if checkpoint is not None:
        verify([], head, AuditKeys(keys), checkpoint=checkpoint)  # raises for a checkpoint the ring did not sign
    first = 1
    bounds = _ranges(first, head.seq, workers)
    checkpoint_seq = -1 if checkpoint is None else checkpoint.seq
    context = multiprocessing.get_context("spawn")  # a clean interpreter: no inherited connections or threads
    with ProcessPoolExecutor(max_workers=len(bounds), mp_context=context) as pool:
        futures = [
            pool.submit(_verify_range, url, list(keys), lo, hi, lo == first, checkpoint_seq) for lo, hi in bounds
        ]
        parts = [f.result() for f in futures]
    return _join(parts, bounds, head, AuditKeys(keys), checkpoint)


def _ranges(first: int, last: int, workers: int) -> list[tuple[int, int]]:
    size = -(-(last - first + 1) // workers)
    return [(lo, min(lo + size - 1, last)) for lo in range(first, last + 1, size)]


def _verify_range(
    url: str, keys: list[SecretKey], lo: int, hi: int, at_start: bool, checkpoint_seq: int
) -> _End | Report:
    """One worker's share: entries ``lo``..``hi``, linked to the stored MAC of entry ``lo - 1``."""
    db = Database(url)
    try:
        with audit_snapshot(db) as snap:
            stored = None if at_start else snap.mac_of(lo - 1)
            if not at_start and stored is None:
                return Report(0, problem=Problem.DELETED_OR_REORDERED, bad_seq=lo - 1, reason=_gap(lo - 1))
            prev = GENESIS if stored is None else bytes.fromhex(stored)
            rows = iter(snap.rows(AuditFilter(first_seq=lo, last_seq=hi)))
            return _walk(rows, lo, AuditKeys(keys), checkpoint_seq, prev=prev)
    except ValueError:  # a stored MAC that is not hex
        return Report(0, problem=Problem.MODIFIED, bad_seq=lo - 1, reason="entry's stored MAC is not a MAC")
    finally:
        db.dispose()


def _gap(seq: int) -> str:
    return f"expected entry {seq}, found none there (gap or reorder)"


def _join(
    parts: list[_End | Report], bounds: list[tuple[int, int]], head: Head, keys: AuditKeys, checkpoint: Head | None
) -> Report:
    verified, checkpoint_mac = 0, None
    end = _End(0, None, None, None)
    for part, (lo, hi) in zip(parts, bounds, strict=True):
        if isinstance(part, Report):
            last = part.last_seq if part.verified else (lo - 1 if verified else None)
            return Report(verified + part.verified, 0, last, part.problem, part.bad_seq, part.reason)
        verified += part.verified
        checkpoint_mac = part.checkpoint_mac or checkpoint_mac
        end = _End(verified, part.last_seq, part.last_mac, checkpoint_mac)
        if part.last_seq != hi and hi != head.seq:  # ran out before its end (the last range: see the head check)
            missing = lo if part.last_seq is None else part.last_seq + 1
            return Report(verified, 0, part.last_seq, Problem.DELETED_OR_REORDERED, missing, _gap(missing))
    return _check_end(end, head, keys, checkpoint, 0)
