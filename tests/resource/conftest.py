"""Fixtures for the MCP endpoint tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from support import Env, make_mcp_env


@pytest.fixture
async def mcp_env(tmp_path: Path) -> AsyncIterator[Env]:
    """Deputy with the Acme tool catalogue, its lifespan (the SDK's session manager) running."""
    env = make_mcp_env(tmp_path)
    async with env.app.router.lifespan_context(env.app):  # type: ignore[attr-defined]
        yield env
