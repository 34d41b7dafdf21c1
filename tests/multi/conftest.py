"""Fixtures for the multi-instance tests: a cluster (tests/cluster.py) on a fresh PostgreSQL schema.

Skipped, with the reason, without DEPUTY_TEST_POSTGRES_URL (the ``postgres_url`` fixture) or without HAProxy.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine

from cluster import Cluster, haproxy_missing, start_cluster


@pytest.fixture
def cluster(postgres_url: str, tmp_path: Path) -> Iterator[Cluster]:
    """Two ``deputy serve`` processes behind HAProxy, one schema, one key ring, Acme CRM in this process."""
    if reason := haproxy_missing():
        if os.environ.get("DEPUTY_TEST_HAPROXY"):  # switched on (CI): a missing load balancer is a failure
            pytest.fail(reason)
        pytest.skip(reason + "; DEPUTY_TEST_HAPROXY=1 makes this a failure")
    with start_cluster(tmp_path / "cluster", postgres_url) as running:
        yield running


@pytest.fixture
def cluster_db(cluster: Cluster) -> Iterator[Engine]:
    """A connection pool on the cluster's schema, for looking at what the instances stored."""
    engine = create_engine(cluster.storage_url)
    yield engine
    engine.dispose()
