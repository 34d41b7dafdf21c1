"""Fixtures for client metadata documents: a test CA, and a real TLS document server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cimd_support import DocServer, LocalCa, make_ca


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> LocalCa:
    return make_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture
def docs(ca: LocalCa) -> Iterator[DocServer]:
    with DocServer(ca) as server:
        yield server
