"""Authenticated MCP ``tools/call`` throughput and latency, side by side with the HTTP floor, in one run.

Three targets on the same server process and stack (uvicorn + Starlette + Deputy's middleware):

  (floor)   a bare Starlette endpoint returning fixed JSON;
  (noauth)  Deputy's MCP endpoint with token verification switched off (bench-only route);
  (auth)    Deputy's real MCP endpoint: own-token verification, revocation check, scope gate.

Two tools: ``deputy_whoami`` (local, no upstream call) and ``contacts_get`` (a real Acme CRM call through the
broker). Load comes from wrk (Debian's ``wrk``) in a separate process, at concurrency 1 and 32, for a fixed time;
non-200 responses and JSON-RPC or tool errors are counted and must be zero. Also measured in this process: the
token check (signature cache hit + expiry + revocation) p50.

    .venv/bin/python bench/tool_calls.py [--seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from headless import obtain_tokens

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _wrk import run_wrk

LUA = r"""
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["MCP-Protocol-Version"] = "2025-11-25"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")
wrk.body = os.getenv("BENCH_BODY")
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) errors = 0 end
function response(status, headers, body)
  if status ~= 200 or string.find(body, '"error"', 1, true) or string.find(body, '"isError":true', 1, true) then
    errors = errors + 1
  end
end
function done(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do total = total + t:get("errors") end
  io.write(string.format("BENCH requests=%d seconds=%f errors=%d p50=%f p99=%f\n", summary.requests,
    summary.duration / 1e6, total, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
"""
REDIRECT = "http://127.0.0.1:9/cb"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


async def get_token(base: str) -> str:
    return (await obtain_tokens(base))["access_token"]


def wrk(url: str, token: str, body: str, connections: int, seconds: float, script: Path) -> dict[str, float]:
    return run_wrk(
        url,
        script,
        connections=connections,
        seconds=seconds,
        threads=1 if connections == 1 else 2,
        env={"BENCH_TOKEN": token, "BENCH_BODY": body},
    )


def _median(runs: list[dict[str, float]]) -> dict[str, float]:
    """The run with the median throughput; errors are summed over all runs."""
    ordered = sorted(runs, key=lambda r: r["rps"])
    return {**ordered[len(ordered) // 2], "errors": sum(r["errors"] for r in runs)}


def token_check_p50(samples: int = 20000) -> float:
    """p50 of the in-process token check on a cache hit, revocation check included (microseconds)."""
    import anyio

    from support import make_env

    async def run() -> float:
        with tempfile.TemporaryDirectory() as tmp:
            env = make_env(Path(tmp))
            _, tokens = await env.full_flow()
            verifier = env.app.state.mcp.verifier  # type: ignore[attr-defined]
            await verifier.verify(tokens["access_token"])
            times = []
            for _ in range(samples):
                t0 = time.perf_counter_ns()
                await verifier.verify(tokens["access_token"])
                times.append(time.perf_counter_ns() - t0)
            env.ctx.store.db.dispose()
            return statistics.median(times) / 1000

    return anyio.run(run)


TARGETS = (("floor", "/bench/floor"), ("noauth", "/bench/mcp-noauth"), ("auth", "/mcp"))
TOOLS = {
    "deputy_whoami": {"name": "deputy_whoami", "arguments": {}},
    "contacts_get": {"name": "contacts_get", "arguments": {"id": "con_1001"}},
}
Results = dict[tuple[str, str, int], dict[str, float]]


def measure_all(base: str, token: str, script: Path, args: argparse.Namespace) -> Results:
    results: Results = {}
    for tool, params in TOOLS.items():
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params})
        for connections in (1, 32):
            runs: dict[str, list[dict[str, float]]] = {t: [] for t, _ in TARGETS}
            for _ in range(args.rounds):  # interleaved rounds, median kept: drift hits every target alike
                for target, path in TARGETS:
                    if target != "floor" or tool == "deputy_whoami":  # one floor serves both tools
                        runs[target].append(wrk(base + path, token, body, connections, args.seconds, script))
            for target, _ in TARGETS:
                key = (tool, target, connections)
                results[key] = (
                    _median(runs[target]) if runs[target] else results[("deputy_whoami", target, connections)]
                )
                r = results[key]
                line = f"{tool:<14} c={connections:<3} {target:<7} {r['rps']:9.1f} req/s   p50 {r['p50']:7.2f} ms"
                print(f"{line}   p99 {r['p99']:7.2f} ms   errors {int(r['errors'])}", flush=True)
    return results


def print_ratios(results: Results) -> None:
    print()
    for tool in TOOLS:
        for connections in (1, 32):
            floor = results[(tool, "floor", connections)]["rps"]
            noauth = results[(tool, "noauth", connections)]["rps"]
            auth = results[(tool, "auth", connections)]["rps"]
            print(
                f"{tool:<14} c={connections:<3} auth/floor {auth / floor:6.1%}   auth/noauth {auth / noauth:6.1%}"
                f"   (authentication overhead {1 - auth / noauth:+.1%})"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")
    port, acme_port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "call.lua"
        script.write_text(LUA)
        stack = subprocess.Popen(
            [sys.executable, str(Path(__file__).parent / "_stack.py"), tmp, str(port), str(acme_port)]
        )
        try:
            wait_up(base + "/jwks")
            results = measure_all(base, asyncio.run(get_token(base)), script, args)
        finally:
            stack.terminate()
            stack.wait(timeout=15)
    print_ratios(results)
    print(f"\ntoken check p50 (in-process, cache hit, revocation included): {token_check_p50():.1f} µs")


if __name__ == "__main__":
    main()
