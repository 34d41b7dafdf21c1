"""``deputy demo``: Acme CRM, Deputy and a demo client on loopback, wired together, with SQLite storage.

Deputy listens on 127.0.0.1 and Acme CRM on ``localhost``: two different hosts, so the browser keeps their cookies
apart exactly as it would for a real proxy and a real third party.
"""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path
from typing import Any

import uvicorn

from deputy.app import create_app
from deputy.config import Settings, load_settings
from deputy.demo.acme import create_acme_app, default_settings
from deputy.demo.client import create_demo_client

__all__ = ["ACME_TOOLS", "demo_settings", "run_demo"]

ACME_TOOLS = Path(__file__).parent / "acme_tools.toml"

DEMO_SCOPES: dict[str, dict[str, Any]] = {
    "crm.read": {
        "description": "Read your contacts, deals and notes",
        "upstream": ["contacts:read", "deals:read", "notes:read"],
    },
    "crm.write": {
        "description": "Create and update contacts, deals and notes",
        "upstream": ["contacts:write", "deals:write", "notes:write"],
    },
}


def demo_settings(
    data_dir: Path, *, deputy_url: str, acme_url: str, acme_secret: str, port: int, intents: bool = True
) -> Settings:
    return load_settings(
        None,
        overrides={
            "server": {"base_url": deputy_url, "host": "127.0.0.1", "port": port},
            "storage": {"url": f"sqlite:///{data_dir / 'deputy.db'}"},
            "keys": {"file": str(data_dir / "keys.json"), "create_if_missing": True},
            "upstream": {
                "name": "Acme CRM",
                "discovery_url": acme_url + "/.well-known/oauth-authorization-server",
                "api_base_url": acme_url + "/api/v1",
                "client_id": "deputy-demo",
                "client_secret": acme_secret,
                "scopes": ["profile"],
            },
            "tools": {"catalogue": str(ACME_TOOLS)},
            "scopes": DEMO_SCOPES,
            "default_scopes": ["crm.read", "crm.write"],
            "intents": {"enabled": intents},
        },
    )


def _acme_secret(data_dir: Path) -> str:
    """The demo's static upstream secret, generated once per data directory like a real provider would issue it."""
    path = data_dir / "acme-client-secret"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(24), encoding="utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip()


def _banner(deputy_url: str, acme_url: str, client_url: str) -> str:
    return f"""
Deputy demo is running.

  Deputy (authorization server)   {deputy_url}
    metadata                      {deputy_url}/.well-known/oauth-authorization-server
  Acme CRM (demo third party)     {acme_url}
  Demo MCP client                 {client_url}

Demo users at Acme CRM: alice / alice-password, bob / bob-password

Try this:
  1. Open {client_url} and click "Connect". Deputy shows ITS OWN consent page (client name, redirect host,
     exact Acme scopes) before anything goes to Acme. Approve, then sign in to Acme as alice and allow.
  2. Connect again: Acme now skips its consent (it set a consent cookie), but Deputy still asks: that is the
     confused-deputy defence. Register a second client at {client_url}/connect?fresh=1 and see it is asked for too.
  3. Point any MCP client at {deputy_url}/mcp. A write tool (contacts_create) answers with a confirmation link
     first: nothing reaches Acme until you approve that exact change on Deputy's page.
  4. {deputy_url}/apps lists the clients you approved; revoke one and its tokens stop working at once.
  5. Press Ctrl+C to stop. State lives in the demo data directory.
"""


async def _serve_all(servers: list[uvicorn.Server]) -> None:
    await asyncio.gather(*(s.serve() for s in servers))


def run_demo(*, data_dir: Path, deputy_port: int, acme_port: int, client_port: int) -> None:
    deputy_url = f"http://127.0.0.1:{deputy_port}"
    acme_url = f"http://localhost:{acme_port}"
    client_url = f"http://127.0.0.1:{client_port}"
    secret = _acme_secret(data_dir)
    settings = demo_settings(data_dir, deputy_url=deputy_url, acme_url=acme_url, acme_secret=secret, port=deputy_port)
    acme = create_acme_app(default_settings(acme_url, deputy_url + "/callback", client_secret=secret))
    deputy = create_app(settings)
    client = create_demo_client(client_url, deputy_url)
    configs = [
        uvicorn.Config(acme, host="127.0.0.1", port=acme_port, log_level="warning", proxy_headers=False),
        uvicorn.Config(deputy, host="127.0.0.1", port=deputy_port, log_level="info", proxy_headers=False),
        uvicorn.Config(client, host="127.0.0.1", port=client_port, log_level="warning", proxy_headers=False),
    ]
    print(_banner(deputy_url, acme_url, client_url), flush=True)
    asyncio.run(_serve_all([uvicorn.Server(c) for c in configs]))
