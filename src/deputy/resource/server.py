"""The MCP server (official SDK, streamable HTTP): tools from the catalogue, executed through the broker.

Stateless mode with JSON responses: every request stands alone and carries its own bearer token, so any instance
can serve any request (no session lives in process memory) and the 2025-11-25 handshake and the stateless
2026-07-28 revision are both served by the SDK. A handle-free design also means there is no session id to hijack.
Each tool call knows the verified principal (user, client, scopes) from the gate in ``auth.py`` and is audited with
its outcome and duration, never with a credential. A write tool the ``[intents]`` policy guards runs as a draft
and commits only with the user's signed confirmation (``deputy.intents``); read tools take the direct path.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from typing import Any

import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel.server import Server

from deputy import __version__
from deputy.audit.batch import AuditBatcher
from deputy.intents.gate import IntentGate, Run
from deputy.intents.results import PLAIN, Channel, ToolResult, channel_of
from deputy.resource.auth import PRINCIPAL
from deputy.resource.catalogue import Catalogue, ToolSpec
from deputy.resource.requests import ToolArgumentError, UpstreamRequest, build_request
from deputy.resource.upstream_api import BrokeredApiClient, CallGrant, ToolCallError
from deputy.resource.verifier import Principal
from deputy.service.context import ServiceContext

__all__ = ["WHOAMI", "ToolHandlers", "build_mcp_server"]

log = logging.getLogger("deputy.mcp")

WHOAMI = "deputy_whoami"
_WHOAMI_TOOL = types.Tool(
    name=WHOAMI,
    title="Who am I",
    description="Show which user and client this connection acts for and the scopes it holds. Makes no upstream call.",
    input_schema={"type": "object", "properties": {}, "additionalProperties": False},
    annotations=types.ToolAnnotations(read_only_hint=True, open_world_hint=False),
)


def _principal(ctx: ServerRequestContext[Any]) -> Principal:
    request = ctx.request
    principal = getattr(request, "scope", {}).get(PRINCIPAL)
    if not isinstance(principal, Principal):  # the gate guarantees it; refuse rather than run unauthenticated
        raise PermissionError("no verified principal on this request")
    return principal


def _tool(spec: ToolSpec, input_schema: dict[str, Any]) -> types.Tool:
    write = spec.kind == "write"
    return types.Tool(
        name=spec.name,
        title=spec.title,
        description=spec.description,
        input_schema=input_schema,
        annotations=types.ToolAnnotations(
            read_only_hint=not write, destructive_hint=False if write else None, open_world_hint=True
        ),
    )


def _text_result(text: str, *, error: bool, data: object = None) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(text=text)], structured_content=data, is_error=error)


def _error_text(exc: ToolCallError) -> str:
    if exc.kind == "rate_limited" and exc.retry_after:
        return f"{exc.message} Retry after {exc.retry_after} seconds."
    return exc.message


_OK_OUTCOMES = frozenset({"ok", "drafted", "confirmation-pending"})


async def _inline(fn: Any, *args: Any, **kwargs: Any) -> Any:
    return fn(*args, **kwargs)


class ToolHandlers:
    """The tool logic, shared by the SDK's handlers and the fast path (``fastpath.py``). ``run`` runs a unit of
    work against the store (``Deps.run``); inline when not given."""

    def __init__(
        self,
        ctx: ServiceContext,
        catalogue: Catalogue,
        api: BrokeredApiClient,
        batcher: AuditBatcher,
        *,
        run: Run | None = None,
    ) -> None:
        self.ctx = ctx
        self.catalogue = catalogue
        self.api = api
        self.audit = batcher
        self.intents = IntentGate(ctx, catalogue, run or _inline, batcher)
        self.tools = [_WHOAMI_TOOL, *(_tool(t, self.intents.published_schema(t)) for t in catalogue.tools)]

    async def list_tools(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        _principal(ctx)
        return types.ListToolsResult(tools=self.tools)

    async def call_tool(self, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams) -> ToolResult:
        return await self.call(_principal(ctx), params.name, params.arguments or {}, channel_of(ctx, params))

    async def call(
        self, principal: Principal, name: str, arguments: dict[str, Any], channel: Channel = PLAIN
    ) -> ToolResult:
        """Run one tool for a verified principal, audited. A write is audited *before* it reaches the upstream as
        well, so a write that cannot be audited never happens (fail closed). ``channel`` says how a draft may be
        put to this caller (``deputy.intents.results``); a plain result unless the caller can take more."""
        tool = self._audit_name(name)
        started = time.perf_counter()
        result, outcome = await self._dispatch(principal, name, arguments, channel)
        elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
        await self.audit.append(
            "tool.called",
            outcome="ok" if outcome in _OK_OUTCOMES else "error",
            client_id=principal.client_id,
            user_id=principal.user_id,
            tool=tool,
            result=outcome,
            duration_ms=elapsed_ms,
        )
        return result

    def _audit_name(self, name: str) -> str:
        """Known tools by name; anything else by a short hash, so a caller cannot write free text into the log."""
        if name == WHOAMI or self.catalogue.get(name) is not None:
            return name
        return "unknown:" + hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:16]

    async def _dispatch(
        self, principal: Principal, name: str, arguments: dict[str, Any], channel: Channel
    ) -> tuple[ToolResult, str]:
        if name == WHOAMI:
            data: dict[str, object] = {
                "user": principal.user_id,
                "client_id": principal.client_id,
                "scopes": sorted(principal.scopes),
            }
            return _text_result(json.dumps(data), error=False, data=data), "ok"
        spec = self.catalogue.get(name)
        if spec is None:
            return _text_result(f"Unknown tool {name[:64]!r}.", error=True), "unknown-tool"
        if spec.scope not in principal.scopes:  # the gate answers 403 first; this is defence in depth
            return _text_result(f"This tool needs the {spec.scope} scope.", error=True), "insufficient-scope"
        try:
            if spec.kind == "write" and self.intents.guards(spec):
                return await self.intents.call(
                    principal, spec, arguments, channel, lambda request: self._execute(principal, spec, request)
                )
            request = build_request(spec, arguments)
        except ToolArgumentError as exc:
            return _text_result(f"Invalid arguments: {exc}", error=True), "invalid-arguments"
        return await self._execute(principal, spec, request)

    async def _execute(
        self, principal: Principal, spec: ToolSpec, request: UpstreamRequest
    ) -> tuple[types.CallToolResult, str]:
        """The upstream call itself, through the broker."""
        if spec.kind == "write":
            await self.audit.append(
                "tool.started", client_id=principal.client_id, user_id=principal.user_id, tool=spec.name
            )
        try:
            grant = CallGrant(
                principal.user_id,
                principal.client_id,
                principal.scopes,
                principal.grant_id,
                principal.jti,
                principal.expires_at,
            )
            result = await self.api.call(grant, request)
        except ToolCallError as exc:
            return _text_result(_error_text(exc), error=True), exc.kind
        data = result.data if isinstance(result.data, dict) else {"result": result.data}
        return _text_result(json.dumps(result.data, ensure_ascii=False), error=False, data=data), "ok"


def build_mcp_server(ctx: ServiceContext, handlers: ToolHandlers) -> Server[Any]:
    return Server(
        "deputy",
        version=__version__,
        title=f"Deputy for {ctx.settings.upstream.name}",
        instructions=f"Tools for {ctx.settings.upstream.name}, called on behalf of the signed-in user.",
        on_list_tools=handlers.list_tools,
        on_call_tool=handlers.call_tool,
    )
