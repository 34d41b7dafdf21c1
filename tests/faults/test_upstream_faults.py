"""The third party failing: its authorization server down, slow or talking garbage at the callback and at refresh
time, and its API failing in the middle of a tool call. Each failure reaches the user or the MCP client as a clear
error, leaves nothing half-done, and heals by itself once the upstream is back.

At the callback the redirect URI has been validated, so the failure goes to the client as an RFC 6749 §4.1.2.1
error response (Deputy's own HTML page is for errors before that point).
"""

from __future__ import annotations

import httpx
import pytest
from fault_proxy import Mode
from fault_world import FaultWorld
from sqlalchemy import select

from clientside import RoutedBrowser, call_tool, register, start_authorization, tool_json, tool_result
from deputy.storage.sql.schema import flows, upstream_credentials
from headless import obtain_tokens

pytestmark = pytest.mark.anyio

AUTH_SERVER_FAULTS: list[Mode] = ["down", "hang", "garbage", "error"]


def _credentials(world: FaultWorld) -> dict[str, tuple[bytes, int | None]]:
    """The sealed upstream credentials by purpose, and any refresh lease."""
    with world.ctx.store.db.engine.connect() as conn:
        rows = conn.execute(select(upstream_credentials)).mappings().all()
    return {r["purpose"]: (bytes(r["ciphertext"]), r["lease_until"]) for r in rows}


@pytest.mark.parametrize("fault", AUTH_SERVER_FAULTS)
async def test_callback_with_the_upstream_failing_ends_the_flow_cleanly(world: FaultWorld, fault: Mode) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        client_id = (await register(http, world.deputy_url)).json()["client_id"]
    world.auth_server.set_mode(fault)
    auth = start_authorization(world.deputy_url, client_id)
    browser = RoutedBrowser(world.deputy_url)
    answer = await browser.authorize(auth.url, auth.redirect_uri)
    assert "code" not in answer
    assert answer["error"] == "temporarily_unavailable", answer
    assert "unavailable" in answer["error_description"] and answer["state"] == "s"
    assert browser.pages == ["deputy-consent", "acme-login", "acme-consent"]
    # The upstream state was spent: the same callback cannot be finished later (nor by anyone else).
    (callback,) = browser.visits("/callback")
    world.auth_server.set_mode("pass")
    replay = await browser.replay(callback)
    assert replay.status_code == 400 and "already used" in replay.text and "location" not in replay.headers
    assert (world.count("consents"), world.count("grants"), world.count("authorization_codes")) == (0, 0, 0)
    with world.ctx.store.db.engine.connect() as conn:
        assert conn.execute(select(flows.c.status)).scalars().all() == ["failed"]
    # Positive control: with the upstream back, the same client completes a flow.
    retry = start_authorization(world.deputy_url, client_id)
    assert "code" in await RoutedBrowser(world.deputy_url).authorize(retry.url, retry.redirect_uri)
    assert world.count("consents") == 1


@pytest.mark.parametrize("fault", AUTH_SERVER_FAULTS)
async def test_refresh_with_the_upstream_failing_keeps_the_credential(world: FaultWorld, fault: Mode) -> None:
    tokens = await obtain_tokens(world.deputy_url, scope="crm.read")
    access = tokens["access_token"]
    async with httpx.AsyncClient(timeout=30) as http:
        assert tool_json(await call_tool(http, world.deputy_url, access, "contacts_get", {"id": "con_1001"}))
        stored = _credentials(world)
        refreshes = world.acme_stats.refreshes
        world.acme_store.expire_access_tokens()
        world.auth_server.set_mode(fault)
        is_error, text = tool_result(
            await call_tool(http, world.deputy_url, access, "contacts_get", {"id": "con_1001"})
        )
        assert is_error and "unavailable" in text, text
        assert "authorize again" not in text
        after = _credentials(world)
        assert {p: c for p, (c, _) in after.items()} == {p: c for p, (c, _) in stored.items()}
        assert after["refresh_token"][1] is None, "the refresh lease was not released"
        world.auth_server.set_mode("pass")
        healed = tool_json(await call_tool(http, world.deputy_url, access, "contacts_get", {"id": "con_1001"}))
    assert healed["id"] == "con_1001"
    assert world.acme_stats.refreshes == refreshes + 1


@pytest.mark.parametrize(
    ("fault", "expected"),
    [("error", "unavailable (HTTP 503)"), ("reset", "unreachable"), ("garbage", "without a JSON body")],
)
async def test_tool_call_with_the_upstream_api_failing_is_a_clear_tool_error(
    world: FaultWorld, fault: Mode, expected: str
) -> None:
    tokens = await obtain_tokens(world.deputy_url, scope="crm.read")
    access = tokens["access_token"]
    async with httpx.AsyncClient(timeout=30) as http:
        assert tool_json(await call_tool(http, world.deputy_url, access, "contacts_get", {"id": "con_1001"}))
        world.api.set_mode(fault)
        is_error, text = tool_result(
            await call_tool(http, world.deputy_url, access, "contacts_get", {"id": "con_1001"})
        )
        world.api.set_mode("pass")
        healed = tool_json(await call_tool(http, world.deputy_url, access, "contacts_get", {"id": "con_1001"}))
    assert is_error and expected in text, text
    assert "Temporarily on fire" not in text and "acme_at_" not in text
    assert healed["id"] == "con_1001"
