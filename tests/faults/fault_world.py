"""Deputy (SQLite) and Acme CRM on loopback, with fault proxies on Deputy's back channel to Acme.

The browser reaches Acme CRM directly (its sign-in pages are not what fails). Deputy reaches Acme's authorization
server (token and userinfo endpoints) through one fault proxy and Acme's API through another, so a test can break
exactly the leg it is about. ``upstream.timeout_seconds`` is one second, so "slow" is quick to show.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from fault_proxy import FaultProxy
from sqlalchemy import func, select
from starlette.applications import Starlette

from deputy.app import create_app
from deputy.config import Settings, load_settings
from deputy.demo.acme import AcmeStats, AcmeStore, create_acme_app, default_settings
from deputy.demo.runner import ACME_TOOLS, DEMO_SCOPES
from deputy.service.context import ServiceContext
from deputy.storage.sql.schema import metadata
from live import LOOPBACK, LiveServers, bind_loopback

UPSTREAM_TIMEOUT = 1.0


@dataclass(frozen=True)
class FaultWorld:
    deputy_url: str
    deputy_app: Starlette
    acme_app: Starlette
    auth_server: FaultProxy  # Deputy → Acme's token and userinfo endpoints
    api: FaultProxy  # Deputy → Acme's REST API

    @property
    def ctx(self) -> ServiceContext:
        ctx: ServiceContext = self.deputy_app.state.deps.ctx
        return ctx

    @property
    def acme_store(self) -> AcmeStore:
        store: AcmeStore = self.acme_app.state.acme_store
        return store

    @property
    def acme_stats(self) -> AcmeStats:
        stats: AcmeStats = self.acme_app.state.acme_stats
        return stats

    def count(self, table: str) -> int:
        with self.ctx.store.db.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(metadata.tables[table])).scalar_one())


def fault_settings(
    tmp_path: Path, *, deputy_url: str, port: int, acme_url: str, auth: str, api: str, secret: str, storage_url: str
) -> Settings:
    return load_settings(
        None,
        overrides={
            "server": {"base_url": deputy_url, "host": LOOPBACK, "port": port},
            "storage": {"url": storage_url},
            "keys": {"file": str(tmp_path / "keys.json"), "create_if_missing": True},
            "upstream": {
                "name": "Acme CRM",
                "issuer": acme_url,
                "authorize_url": acme_url + "/authorize",
                "token_url": auth + "/token",
                "userinfo_url": auth + "/userinfo",
                "api_base_url": api + "/api/v1",
                "client_id": "deputy-demo",
                "client_secret": secret,
                "scopes": ["profile"],
                "timeout_seconds": UPSTREAM_TIMEOUT,
            },
            "tools": {"catalogue": str(ACME_TOOLS), "timeout_seconds": UPSTREAM_TIMEOUT},
            "scopes": DEMO_SCOPES,
            "default_scopes": ["crm.read", "crm.write"],
            "intents": {"enabled": False},
            "registration": {"rate_limit_per_hour": 100_000},  # the full-disk test registers until it fails
        },
    )


@contextlib.contextmanager
def start_world(tmp_path: Path, storage_url: str | None = None) -> Iterator[FaultWorld]:
    """Acme CRM and Deputy on loopback; Deputy on ``storage_url`` (SQLite in ``tmp_path`` by default)."""
    acme_sock, deputy_sock = bind_loopback(), bind_loopback()
    acme_port, deputy_port = int(acme_sock.getsockname()[1]), int(deputy_sock.getsockname()[1])
    acme_url, deputy_url = f"http://localhost:{acme_port}", f"http://{LOOPBACK}:{deputy_port}"
    secret = secrets.token_urlsafe(24)
    auth, api = FaultProxy(LOOPBACK, acme_port), FaultProxy(LOOPBACK, acme_port)
    acme_app = create_acme_app(default_settings(acme_url, deputy_url + "/callback", client_secret=secret))
    settings = fault_settings(
        tmp_path,
        deputy_url=deputy_url,
        port=deputy_port,
        acme_url=acme_url,
        auth=f"http://{LOOPBACK}:{auth.port}",
        api=f"http://{LOOPBACK}:{api.port}",
        secret=secret,
        storage_url=storage_url or f"sqlite:///{tmp_path / 'deputy.db'}",
    )
    deputy_app = create_app(settings)
    servers = LiveServers([(acme_app, acme_sock), (deputy_app, deputy_sock)])
    try:
        servers.start()
        yield FaultWorld(deputy_url, deputy_app, acme_app, auth, api)
    finally:
        servers.stop()
        auth.stop()
        api.stop()
