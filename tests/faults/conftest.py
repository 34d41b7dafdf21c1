"""Fixtures for the fault tests (tests/faults/fault_world.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fault_world import FaultWorld, start_world


@pytest.fixture
def world(tmp_path: Path) -> Iterator[FaultWorld]:
    with start_world(tmp_path) as running:
        yield running
