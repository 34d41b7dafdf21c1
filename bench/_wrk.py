"""Running wrk with a Lua script whose ``done()`` prints one ``BENCH`` line, and reading that line back."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

__all__ = ["run_wrk"]

_LINE = re.compile(r"BENCH requests=(\d+) seconds=([\d.]+) errors=(\d+) p50=([\d.]+) p99=([\d.]+)")


def run_wrk(
    url: str,
    script: Path,
    *,
    connections: int,
    seconds: float,
    threads: int,
    script_args: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
) -> dict[str, float]:
    """Throughput, p50/p99 (ms) and errors (the script's count plus wrk's non-2xx count)."""
    cmd = [
        "wrk",
        "-t",
        str(threads),
        "-c",
        str(connections),
        "-d",
        f"{max(1, round(seconds))}s",
        "-s",
        str(script),
        url,
    ]
    if script_args:
        cmd += ["--", *script_args]
    done = subprocess.run(
        cmd, capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=seconds + 60, check=False
    )
    m = _LINE.search(done.stdout)
    if done.returncode != 0 or m is None:
        raise RuntimeError(f"wrk failed: {done.stdout} {done.stderr}")
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", done.stdout)
    errors = int(m[3]) + (int(non2xx[1]) if non2xx else 0)
    return {"rps": int(m[1]) / float(m[2]), "errors": errors, "p50": float(m[4]), "p99": float(m[5])}
