"""Draft-then-commit end to end with the official MCP Python SDK client, unmodified, against a live demo.

The headless browser that authorized the client is "the user's browser": it holds the Deputy session, so it is the
one that can approve. Two conventions are exercised: re-calling the tool with ``_deputy_draft`` (any client,
2025-11-25) and the 2026-07-28 URL elicitation the SDK client drives by itself (``InputRequiredResult``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urljoin

import httpx
import httpx2
import mcp_types as types
import pytest
from mcp.client import Client, ClientRequestContext
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientMetadata
from pydantic import AnyUrl

from deputy.intents.policy import DRAFT_ARGUMENT
from headless import HeadlessBrowser, MemoryTokenStorage, field, obtain_tokens, pkce_pair
from live import DemoServers, start_demo

pytestmark = pytest.mark.anyio

REDIRECT = "http://127.0.0.1:33418/callback"  # never contacted: the headless browser stops there
BOB = ("bob", "bob-password")
CONTACT = {"name": "Grace Hopper", "email": "grace@example.com"}


class Agent:
    """The SDK's OAuth callbacks, driving the user's headless browser."""

    def __init__(self) -> None:
        self.browser = HeadlessBrowser()
        self.result: dict[str, str] | None = None

    async def redirect_handler(self, url: str) -> None:
        self.result = await self.browser.authorize(url, REDIRECT)

    async def callback_handler(self) -> AuthorizationCodeResult:
        assert self.result is not None
        result, self.result = self.result, None
        return AuthorizationCodeResult(code=result["code"], state=result.get("state"), iss=result.get("iss"))


async def press(browser: HeadlessBrowser, url: str, action: str = "approve") -> httpx.Response:
    """The user opens the confirmation link in ``browser`` and presses a button."""
    async with httpx.AsyncClient(follow_redirects=False, timeout=30) as ua:
        page = await ua.get(url, headers=browser.jar.header(url))
        browser.jar.update(url, page)
        if page.status_code != 200:
            return page
        form = {"csrf_token": field(page.text, "csrf_token"), "action": action}
        posted = await ua.post(url, data=form, headers=browser.jar.header(url))
        browser.jar.update(url, posted)
        return posted


@asynccontextmanager
async def sdk_client(demo: DemoServers, agent: Agent, mode: str, **options: Any) -> AsyncIterator[Client]:
    oauth = OAuthClientProvider(
        server_url=demo.resource,
        client_metadata=OAuthClientMetadata(
            client_name="SDK intent client",
            redirect_uris=[AnyUrl(REDIRECT)],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",
        ),
        storage=MemoryTokenStorage(),
        redirect_handler=agent.redirect_handler,
        callback_handler=agent.callback_handler,
    )
    async with (
        httpx2.AsyncClient(auth=oauth, timeout=httpx2.Timeout(30.0)) as http,
        Client(streamable_http_client(demo.resource, http_client=http), mode=mode, **options) as client,
    ):
        yield client


@asynccontextmanager
async def bearer_client(demo: DemoServers, token: str) -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30.0)) as http,
        Client(streamable_http_client(demo.resource, http_client=http), mode="legacy") as client,
    ):
        yield client


def contacts(demo: DemoServers, name: str, username: str = "alice") -> list[dict[str, Any]]:
    store = demo.acme_app.state.acme_store
    owner = next(u.user_id for u in demo.acme_settings.users if u.username == username)
    page = store.records.page("contacts", owner, 0, 10_000)
    return [dict(r.fields) for r in page.items if r.fields.get("name") == name]


async def signed_in_browser(demo: DemoServers, user: tuple[str, str]) -> HeadlessBrowser:
    """A browser in which ``user`` authorized some client through Deputy (so it holds their Deputy session)."""
    browser = HeadlessBrowser(user)
    async with httpx.AsyncClient(timeout=30) as http:
        reg = await http.post(demo.issuer + "/register", json={"client_name": "b", "redirect_uris": [REDIRECT]})
    _, challenge = pkce_pair()
    query = {
        "response_type": "code",
        "client_id": reg.json()["client_id"],
        "redirect_uri": REDIRECT,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "scope": "crm.read",
        "state": "s",
    }
    await browser.authorize(demo.issuer + "/authorize?" + urlencode(query), REDIRECT)
    return browser


def draft_of(result: types.CallToolResult) -> dict[str, Any]:
    assert not result.is_error, result.content
    data = result.structured_content
    assert data is not None and data["status"] == "confirmation_required", data
    return data


async def test_sdk_client_drafts_the_user_approves_and_the_commit_runs_once(tmp_path: Path) -> None:
    with start_demo(tmp_path) as demo:
        agent = Agent()
        async with sdk_client(demo, agent, "legacy") as client:
            draft = draft_of(await client.call_tool("contacts_create", CONTACT))
            assert draft["confirmation_url"].startswith(demo.issuer + "/confirm/")
            assert contacts(demo, "Grace Hopper") == []  # a draft touches nothing upstream

            bob = await signed_in_browser(demo, BOB)
            assert (await press(bob, draft["confirmation_url"])).status_code == 403  # another user's session
            assert (await press(HeadlessBrowser(), draft["confirmation_url"])).status_code == 401  # no session
            approved = await press(agent.browser, draft["confirmation_url"])
            assert approved.status_code == 200 and "Approved" in approved.text

            changed = {**draft["commit_arguments"], "email": "grace@attacker.example"}
            refused = await client.call_tool("contacts_create", changed)
            assert refused.is_error and refused.structured_content == {
                "status": "commit_refused",
                "reason": "changed_arguments",
            }
            done = await client.call_tool("contacts_create", draft["commit_arguments"])
            assert not done.is_error, done.content
            assert contacts(demo, "Grace Hopper") == [{**CONTACT, "company": None, "phone": None}]

            replay = await client.call_tool("contacts_create", draft["commit_arguments"])
            assert replay.is_error and replay.structured_content is not None
            assert replay.structured_content["reason"] == "replayed"
            found = await client.call_tool("contacts_search", {"q": "Grace"})
            assert not found.is_error and "Grace Hopper" in str(found.structured_content)
        assert len(contacts(demo, "Grace Hopper")) == 1


async def test_a_draft_of_one_grant_is_refused_to_another_grant_of_the_same_user(tmp_path: Path) -> None:
    with start_demo(tmp_path) as demo:
        agent = Agent()
        async with sdk_client(demo, agent, "legacy") as client:
            draft = draft_of(await client.call_tool("contacts_create", CONTACT))
            assert (await press(agent.browser, draft["confirmation_url"])).status_code == 200
            other = await obtain_tokens(demo.issuer)  # alice again, through another client: grant B
            async with bearer_client(demo, other["access_token"]) as second:
                stolen = await second.call_tool("contacts_create", draft["commit_arguments"])
            assert stolen.is_error and stolen.structured_content is not None
            assert stolen.structured_content["reason"] == "other_session"
            assert contacts(demo, "Grace Hopper") == []
            ok = await client.call_tool("contacts_create", draft["commit_arguments"])  # control: grant A can
            assert not ok.is_error
        assert len(contacts(demo, "Grace Hopper")) == 1


async def test_a_2026_client_with_url_elicitation_is_asked_and_commits_by_itself(tmp_path: Path) -> None:
    """The SDK client gets an ``InputRequiredResult`` with a URL elicitation; its callback shows the URL to the
    user (here: the user approves in their browser) and the SDK retries the call, which commits."""
    with start_demo(tmp_path) as demo:
        agent = Agent()
        asked: list[types.ElicitRequestURLParams] = []

        async def elicitation(
            context: ClientRequestContext, params: types.ElicitRequestParams
        ) -> types.ElicitResult | types.ErrorData:
            assert isinstance(params, types.ElicitRequestURLParams)
            asked.append(params)
            approved = await press(agent.browser, params.url)
            assert approved.status_code == 200
            return types.ElicitResult(action="accept")

        async with sdk_client(demo, agent, "2026-07-28", elicitation_callback=elicitation) as client:
            tools = await client.list_tools()
            create = next(t for t in tools.tools if t.name == "contacts_create")
            assert DRAFT_ARGUMENT in create.input_schema["properties"]
            done = await client.call_tool("contacts_create", CONTACT)
            assert not done.is_error, done.content
            assert done.structured_content is not None and done.structured_content["name"] == "Grace Hopper"
        assert len(asked) == 1 and asked[0].url.startswith(demo.issuer + "/confirm/")
        assert urljoin(asked[0].url, "/") == demo.issuer + "/"
        assert len(contacts(demo, "Grace Hopper")) == 1


async def test_a_2026_client_whose_user_declines_runs_nothing(tmp_path: Path) -> None:
    with start_demo(tmp_path) as demo:
        agent = Agent()

        async def decline(
            context: ClientRequestContext, params: types.ElicitRequestParams
        ) -> types.ElicitResult | types.ErrorData:
            return types.ElicitResult(action="decline")

        async with sdk_client(demo, agent, "2026-07-28", elicitation_callback=decline) as client:
            result = await client.call_tool("contacts_create", CONTACT)
        assert result.is_error and result.structured_content == {"status": "commit_refused", "reason": "declined"}
        assert contacts(demo, "Grace Hopper") == []


async def test_a_2026_client_without_url_elicitation_gets_the_plain_draft(tmp_path: Path) -> None:
    with start_demo(tmp_path) as demo:
        agent = Agent()
        async with sdk_client(demo, agent, "2026-07-28") as client:
            draft = draft_of(await client.call_tool("contacts_create", CONTACT))
            assert (await press(agent.browser, draft["confirmation_url"])).status_code == 200
            done = await client.call_tool("contacts_create", draft["commit_arguments"])
            assert not done.is_error, done.content
        assert len(contacts(demo, "Grace Hopper")) == 1
