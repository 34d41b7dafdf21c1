"""How a draft is put to the MCP client, in the MCP SDK's own types.

Deputy's MCP endpoint is stateless, so it cannot send ``elicitation/create`` in the middle of a tool call. Two
ways remain, chosen per request:

* 2026-07-28 requests that declare the ``elicitation.url`` capability (each request carries its capabilities)
  get an ``InputRequiredResult`` holding a URL-mode elicitation (SEP-2322). The SDK client hands it to the
  application's elicitation callback, which shows the user the URL, and then retries the same ``tools/call``
  with the echoed ``request_state`` (the draft id): that retry is the commit.
* Everything else (2025-11-25 clients, whose capabilities a stateless server never sees, and clients without URL
  elicitation) gets a normal tool result, ``isError: false`` and ``status: "confirmation_required"``, carrying
  the same URL and telling the assistant to show it to the user and then call the tool again with
  ``_deputy_draft``. The 2025-11-25 ``-32042`` error is not used: Deputy never knows a 2025-11-25 client's
  capabilities, and 2026-07-28 retired the code in favour of ``InputRequiredResult``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from deputy.intents.commit import REFUSALS, Refusal
from deputy.intents.models import Draft
from deputy.intents.policy import DRAFT_ARGUMENT

__all__ = [
    "ELICITATION_KEY",
    "PLAIN",
    "Channel",
    "ToolResult",
    "channel_of",
    "confirmation_result",
    "refusal_result",
    "text_result",
]

ELICITATION_KEY: Final = "deputy_confirm"

ToolResult = types.CallToolResult | types.InputRequiredResult


@dataclass(frozen=True)
class Channel:
    """What this request can do: receive a URL elicitation, and what it echoes back from one."""

    url_elicitation: bool = False
    request_state: str | None = None
    declined: bool = False


PLAIN: Final = Channel()


def channel_of(ctx: ServerRequestContext[Any], params: types.CallToolRequestParams) -> Channel:
    if ctx.protocol_version not in MODERN_PROTOCOL_VERSIONS:
        return PLAIN
    capabilities = ctx.session.client_capabilities
    elicitation = capabilities.elicitation if capabilities is not None else None
    response = (params.input_responses or {}).get(ELICITATION_KEY)
    return Channel(
        url_elicitation=elicitation is not None and elicitation.url is not None,
        request_state=params.request_state,
        declined=isinstance(response, types.ElicitResult) and response.action != "accept",
    )


def text_result(text: str, *, error: bool, data: dict[str, Any] | None = None) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(text=text)], structured_content=data, is_error=error)


def confirmation_result(
    draft: Draft, url: str, title: str, arguments: dict[str, Any], channel: Channel, *, again: bool = False
) -> ToolResult:
    """The answer to a write call that became (or still is) a draft awaiting the user."""
    message = (
        f"Deputy needs the user's confirmation before it runs {title!r} ({draft.method} {draft.target}). "
        "Open the link in the browser where you signed in to Deputy, check the operation and approve or reject it."
    )
    if channel.url_elicitation and not again:
        elicit = types.ElicitRequestURLParams(message=message, url=url, elicitation_id=draft.draft_id)
        return types.InputRequiredResult(
            input_requests={ELICITATION_KEY: types.ElicitRequest(params=elicit)}, request_state=draft.draft_id
        )
    commit_arguments = {**arguments, DRAFT_ARGUMENT: draft.draft_id}
    status = "not yet approved" if again else "nothing has been done yet"
    text = (
        f"Confirmation required ({status}). Show the user this link and ask them to open it in the browser where "
        f"they signed in to Deputy, check the operation and approve it: {url}\n"
        f"After they approve, call {draft.tool} again with exactly the same arguments plus "
        f"{json.dumps(DRAFT_ARGUMENT)}: {json.dumps(draft.draft_id)}. Do not open the link yourself. The link "
        f"expires at {datetime.fromtimestamp(draft.expires_at, UTC).isoformat()}."
    )
    data = {
        "status": "confirmation_required",
        "draft_id": draft.draft_id,
        "confirmation_url": url,
        "expires_at": draft.expires_at,
        "tool": draft.tool,
        "intent_hash": draft.intent_hash,
        "commit_arguments": commit_arguments,
    }
    return text_result(text, error=False, data=data)


def refusal_result(reason: Refusal) -> types.CallToolResult:
    return text_result(REFUSALS[reason], error=True, data={"status": "commit_refused", "reason": reason})
