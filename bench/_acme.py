"""The upstream side of bench/broker.py: Acme CRM in its own process, with one token pair issued up front.

Prints ``ACCESS REFRESH`` on the first line of stdout once it serves, so the measuring process can use the raw
token (the "direct" side) and seal the same pair into Deputy's vault (the "brokered" side).

Usage: python bench/_acme.py PORT
"""

from __future__ import annotations

import asyncio
import secrets
import sys

import uvicorn

from deputy.demo.acme import create_acme_app, default_settings


def main() -> None:
    port = int(sys.argv[1])
    url = f"http://localhost:{port}"
    app = create_acme_app(default_settings(url, "http://127.0.0.1:9/callback"))
    store = app.state.acme_store
    scopes = frozenset({"contacts:read", "deals:read", "notes:read"})
    pair = store.issue_tokens("deputy-demo", "acme-u-1001", scopes, secrets.token_hex(8))
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, proxy_headers=False)
    )

    async def serve() -> None:
        task = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.05)
        print(pair.access.token, pair.refresh.token, flush=True)
        await task

    asyncio.run(serve())


if __name__ == "__main__":
    main()
