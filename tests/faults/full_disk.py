"""A full disk under a SQLite database, for real when the test may mount a filesystem, simulated otherwise.

``TinyDisk`` prefers a real one: a 4 MiB tmpfs (root only) that ``fill`` packs with a ballast file until the kernel
says ENOSPC, and ``free`` empties again. Without permission to mount, it caps the database instead: every new
connection gets ``PRAGMA max_page_count`` equal to the current page count (an engine ``connect`` event, added for
the test only), which makes SQLite fail exactly as on a full disk, with ``SQLITE_FULL`` ("database or disk is
full"). ``how`` says which one ran.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Engine, event

__all__ = ["TinyDisk"]

SIZE = "4m"
BALLAST_CHUNK = 64 * 1024


class TinyDisk:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.how: Literal["tmpfs", "max_page_count"] = "tmpfs" if _mount(directory) else "max_page_count"
        self._engine: Engine | None = None
        self._cap: int | None = None

    @property
    def ballast(self) -> Path:
        return self.directory / "ballast"

    def fill(self, engine: Engine, database: Path) -> None:
        """Leave no room for the database to grow."""
        if self.how == "tmpfs":
            with self.ballast.open("wb") as out, contextlib.suppress(OSError):
                while True:
                    out.write(b"\0" * BALLAST_CHUNK)
                    out.flush()
            return
        with contextlib.closing(sqlite3.connect(database)) as conn:
            self._cap = int(conn.execute("PRAGMA page_count").fetchone()[0])
        self._engine = engine
        event.listen(engine, "connect", self._limit)
        engine.dispose()  # pooled connections reconnect, and get the limit

    def free(self) -> None:
        if self.how == "tmpfs":
            self.ballast.unlink(missing_ok=True)
        elif self._engine is not None:
            event.remove(self._engine, "connect", self._limit)
            self._engine.dispose()
            self._engine = None

    def close(self) -> None:
        self.free()
        if self.how == "tmpfs":
            subprocess.run(["umount", "--lazy", str(self.directory)], check=False, capture_output=True)

    def _limit(self, dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.execute(f"PRAGMA max_page_count = {int(self._cap or 1)}")


def _mount(directory: Path) -> bool:
    """Mount a small tmpfs on ``directory``; False when not permitted (not root, no CAP_SYS_ADMIN, no mount)."""
    mount = shutil.which("mount")
    if mount is None or os.geteuid() != 0:
        return False
    done = subprocess.run(
        [mount, "-t", "tmpfs", "-o", f"size={SIZE},mode=0700", "tmpfs", str(directory)],
        check=False,
        capture_output=True,
    )
    return done.returncode == 0
