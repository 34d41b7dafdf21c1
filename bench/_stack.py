"""The server side of bench/tool_calls.py: Acme CRM and Deputy in one uvicorn process, plus two bench-only routes.

* ``/bench/floor``: a bare Starlette endpoint returning fixed JSON on the same server stack (the HTTP floor);
* ``/bench/mcp-noauth``: Deputy's MCP endpoint with token verification switched off: the principal is read from
  the JWT payload without checking anything. Never part of the product app.

Usage: python bench/_stack.py DATA_DIR DEPUTY_PORT ACME_PORT
"""

from __future__ import annotations

import asyncio
import base64
import json
import sys
from pathlib import Path

import uvicorn
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from deputy.app import create_app
from deputy.demo.acme import create_acme_app, default_settings
from deputy.demo.runner import demo_settings
from deputy.resource.auth import PRINCIPAL
from deputy.resource.verifier import Principal

FIXED = {"jsonrpc": "2.0", "id": 1, "result": {"content": [{"type": "text", "text": "ok"}], "isError": False}}


async def floor(request: Request) -> JSONResponse:
    await request.body()
    return JSONResponse(FIXED)


class NoVerification:
    """Bench only: trust the bearer token's payload without verifying it, to measure what verification costs."""

    def __init__(self, app: ASGIApp, issuer: str, resource: str) -> None:
        self.app, self.issuer, self.resource = app, issuer, resource

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        header = dict(scope["headers"]).get(b"authorization", b"").decode()
        payload = header.split(".")[1]
        c = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        principal = Principal(c["sub"], c["client_id"], frozenset(c["scope"].split()), c["jti"], c["gid"], c["exp"])
        scope[PRINCIPAL] = principal
        token = AccessToken(
            token="-",
            client_id=c["client_id"],
            scopes=sorted(principal.scopes),
            expires_at=c["exp"],
            resource=self.resource,
            subject=c["sub"],
            claims={"iss": self.issuer},
        )
        scope["user"] = AuthenticatedUser(token)
        await self.app(scope, receive, send)


def main() -> None:
    data_dir, deputy_port, acme_port = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    deputy_url, acme_url = f"http://127.0.0.1:{deputy_port}", f"http://localhost:{acme_port}"
    secret = "bench-acme-secret"
    acme = create_acme_app(default_settings(acme_url, deputy_url + "/callback", client_secret=secret))
    settings = demo_settings(data_dir, deputy_url=deputy_url, acme_url=acme_url, acme_secret=secret, port=deputy_port)
    deputy = create_app(settings)
    deputy.router.routes[:0] = [
        Route("/bench/floor", floor, methods=["POST"]),
        # Same inner app as /mcp (fast path, then the SDK), minus the gate.
        Route(
            "/bench/mcp-noauth",
            NoVerification(deputy.state.mcp.gate.app, settings.issuer, settings.resource_url),
            methods=["POST"],
        ),
    ]
    configs = [
        uvicorn.Config(
            acme, host="127.0.0.1", port=acme_port, log_level="warning", proxy_headers=False, access_log=False
        ),
        uvicorn.Config(
            deputy, host="127.0.0.1", port=deputy_port, log_level="warning", proxy_headers=False, access_log=False
        ),
    ]
    asyncio.run(_serve([uvicorn.Server(c) for c in configs]))


async def _serve(servers: list[uvicorn.Server]) -> None:
    await asyncio.gather(*(s.serve() for s in servers))


if __name__ == "__main__":
    main()
