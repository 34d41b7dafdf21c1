"""The request body cap, enforced both on declared sizes and on streamed bodies."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from acme_flow import CLIENT_ID, CLIENT_SECRET, obtain_tokens
from starlette.applications import Starlette

pytestmark = pytest.mark.anyio

LIMIT = 64 * 1024


async def _chunks(total: int, size: int = 8192) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        chunk = b"a" * min(size, total - sent)
        sent += len(chunk)
        yield chunk


async def test_declared_oversized_body_is_413(client: httpx.AsyncClient) -> None:
    body = b"grant_type=" + b"x" * LIMIT
    response = await client.post("/token", content=body, headers={"content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 413
    assert response.json()["error"] == "request_too_large"


async def test_streamed_oversized_body_is_413(app: Starlette, client: httpx.AsyncClient) -> None:
    tokens = await obtain_tokens(app)
    headers = {**tokens.headers, "content-type": "application/json"}
    response = await client.post("/api/v1/notes", content=_chunks(LIMIT + 1), headers=headers)
    assert response.status_code == 413
    assert response.json()["error"] == "request_too_large"


async def test_streamed_body_at_the_limit_is_read(client: httpx.AsyncClient) -> None:
    headers = {"content-type": "application/x-www-form-urlencoded"}
    response = await client.post("/token", content=_chunks(LIMIT), headers=headers, auth=(CLIENT_ID, CLIENT_SECRET))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


@pytest.mark.parametrize("length", ["abc", "-1", "9" * 40])
async def test_odd_content_length_does_not_crash(client: httpx.AsyncClient, length: str) -> None:
    response = await client.post("/token", content=b"grant_type=x", headers={"content-length": length})
    assert response.status_code < 500
