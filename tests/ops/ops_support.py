"""Shared pieces of the operability tests: a loopback client for an in-process app, and a metrics scraper."""

from __future__ import annotations

from collections.abc import Mapping

import httpx
from prometheus_client.parser import text_string_to_metric_families
from starlette.types import ASGIApp

from support import DEPUTY

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def client_from(app: ASGIApp, ip: str = "127.0.0.1", **headers: str) -> httpx.AsyncClient:
    """An HTTP client whose requests reach ``app`` from ``ip`` (loopback unless told otherwise). An exception the
    app re-raises after answering (as Starlette does after a 500) is left to the server, as uvicorn would."""
    transport = httpx.ASGITransport(app=app, client=(ip, 40000), raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url=DEPUTY, headers=headers, follow_redirects=False)


def parse_samples(text: str) -> Samples:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def scrape(app: ASGIApp, **headers: str) -> Samples:
    async with client_from(app, **headers) as c:
        r = await c.get("/metrics")
    assert r.status_code == 200, r.text
    return parse_samples(r.text)


def value(samples: Samples, name: str, labels: Mapping[str, str]) -> float:
    """A sample's value, 0 when the series does not exist yet (counters start at their first increment)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def delta(before: Samples, after: Samples, name: str, labels: Mapping[str, str]) -> float:
    return value(after, name, labels) - value(before, name, labels)
