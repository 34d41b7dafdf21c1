"""Fixtures for the Acme CRM tests: a fresh provider per test on a frozen clock, driven in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from acme_flow import CALLBACK, ISSUER
from starlette.applications import Starlette

from deputy.clock import FrozenClock
from deputy.demo.acme import AcmeSettings, AcmeStats, AcmeStore, create_acme_app, default_settings


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def settings() -> AcmeSettings:
    return default_settings(ISSUER, CALLBACK)


@pytest.fixture
def app(settings: AcmeSettings, clock: FrozenClock) -> Starlette:
    return create_acme_app(settings, clock=clock)


@pytest.fixture
def store(app: Starlette) -> AcmeStore:
    store: AcmeStore = app.state.acme_store
    return store


@pytest.fixture
def stats(app: Starlette) -> AcmeStats:
    stats: AcmeStats = app.state.acme_stats
    return stats


@pytest.fixture
async def client(app: Starlette, settings: AcmeSettings) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=settings.issuer) as client:
        yield client
