"""Run the official MCP conformance suite against Deputy's MCP endpoint (`deputy demo` world on loopback).

The suite speaks to an MCP URL without credentials, so a small loopback proxy in front of Deputy adds a valid
bearer token (obtained through the real OAuth flow, consent approved by a scripted browser) to every request and
forwards it unchanged otherwise. Exit code: the suite's own.

    python conformance/run_against_deputy.py --node DIR_WITH_NODE --suite-js PATH/dist/index.js [-- extra args]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from headless import obtain_tokens  # noqa: E402
from live import LiveServers, bind_loopback, start_demo  # noqa: E402

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "te", "upgrade"}


def token_proxy(target: str, token: str) -> Starlette:
    """Forward /mcp to Deputy with the bearer token added.

    The proxy stands in for Deputy, so an ``Origin`` naming the proxy itself is rewritten to Deputy's origin (the
    suite's "valid localhost origin" case); any other origin passes through unchanged and must be refused.
    """
    client = httpx.AsyncClient(timeout=60)
    deputy_origin = target.rsplit("/", 1)[0]

    async def forward(request: Request) -> Response:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        headers["authorization"] = f"Bearer {token}"
        host, port = request.scope["server"]  # the proxy's real address, not the (possibly forged) Host header
        own = f"http://{host}:{port}"
        if headers.get("origin") == own:
            headers["origin"] = deputy_origin
        r = await client.request(request.method, target, content=await request.body(), headers=headers)
        out = {k: v for k, v in r.headers.items() if k.lower() not in HOP_BY_HOP}
        return Response(r.content, status_code=r.status_code, headers=out)

    return Starlette(routes=[Route("/mcp", forward, methods=["GET", "POST", "DELETE"])])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--node", required=True, help="directory holding the node binary (22+)")
    parser.add_argument("--suite-js", required=True, help="path to @modelcontextprotocol/conformance dist/index.js")
    parser.add_argument("--expected-failures", default=str(Path(__file__).parent / "expected-failures.yaml"))
    parser.add_argument("extra", nargs="*")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, start_demo(Path(tmp)) as demo:
        token = asyncio.run(obtain_tokens(demo.deputy_url))["access_token"]
        sock = bind_loopback()
        proxy = LiveServers([(token_proxy(demo.resource, token), sock)])
        proxy.start()
        try:
            url = f"http://127.0.0.1:{sock.getsockname()[1]}/mcp"
            cmd = [
                str(Path(args.node) / "node"),
                args.suite_js,
                "server",
                "--url",
                url,
                "--expected-failures",
                args.expected_failures,
                *args.extra,
            ]
            return subprocess.run(cmd, timeout=600, check=False).returncode  # noqa: S603 (our own pinned tool)
        finally:
            proxy.stop()


if __name__ == "__main__":
    raise SystemExit(main())
