"""The tool-call side of draft-then-commit: what ``ToolHandlers`` asks before a write tool may reach the upstream.

A guarded write call without a draft id becomes a draft (nothing goes upstream) and the caller gets the
confirmation URL. The commit is the same call again with the draft id, either as the reserved argument
``_deputy_draft`` (any client, including assistants that can only call tools) or as the ``request_state`` a
2026-07-28 client echoes after a URL elicitation. Deputy recomputes the intent hash from *that* call, so the
operation that runs is the one the commit call describes, and it runs only if that equals what the user saw.

The confirmation is spent (atomically) before the upstream call, which cannot be inside a database
transaction: if the upstream call then fails, the draft stays spent and the user confirms a new one. Running an
operation twice on one confirmation is the worse failure, so it is the one made impossible.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

import mcp_types as types

from deputy.audit.batch import AuditBatcher
from deputy.intents import service
from deputy.intents.canonical import IntentSubject
from deputy.intents.commit import CommitAttempt
from deputy.intents.keyring import ensure_intent_key
from deputy.intents.policy import DRAFT_ARGUMENT, IntentPolicy, build_policy
from deputy.intents.results import Channel, ToolResult, confirmation_result, refusal_result, text_result
from deputy.resource.catalogue import Catalogue, ToolSpec, thaw
from deputy.resource.requests import ToolArgumentError, UpstreamRequest, build_request
from deputy.resource.verifier import Principal
from deputy.service.context import ServiceContext

__all__ = ["Execute", "IntentGate"]

Execute = Callable[[UpstreamRequest], Awaitable[tuple[types.CallToolResult, str]]]
Run = Callable[..., Awaitable[Any]]

_DRAFT_SCHEMA: Final = {
    "type": "string",
    "minLength": 1,
    "maxLength": service.MAX_DRAFT_ID,
    "description": "Only to commit a draft the user approved: the draft_id Deputy returned. Leave it out "
    "otherwise; the call then returns a draft and a link for the user to confirm.",
}
_SPENT: Final = (
    " The confirmation was used up by this attempt: to try again, call the tool again without _deputy_draft and "
    "ask the user to confirm the new draft."
)


class IntentGate:
    """Built once per app. Raises ``ConfigError`` (from the policy or the key check) when intents are misconfigured."""

    def __init__(self, ctx: ServiceContext, catalogue: Catalogue, run: Run, audit: AuditBatcher) -> None:
        self.ctx = ctx
        self.run = run
        self.audit = audit
        self.policy: IntentPolicy = build_policy(
            ctx.settings.intents, catalogue, (c.client_id for c in ctx.settings.clients)
        )
        if self.policy.enabled:
            ensure_intent_key(ctx.keys, ctx.settings, ctx.clock.now())
        self.base_url = (ctx.settings.upstream.api_base_url or "").rstrip("/")

    def _base(self, request: UpstreamRequest) -> str:
        """Where the call really goes: the upstream API, or the downstream service a tool names. The target is part
        of the intent hash and of what the user reads on the confirmation page."""
        if request.downstream is None:
            return self.base_url
        service = self.ctx.settings.downstream.get(request.downstream)
        return (service.api_base_url or "").rstrip("/") if service is not None else ""

    def guards(self, spec: ToolSpec) -> bool:
        return self.policy.guards(spec.name)

    def published_schema(self, spec: ToolSpec) -> dict[str, Any]:
        """The tool's input schema as listed to clients: with the optional ``_deputy_draft`` when guarded."""
        schema = thaw(spec.input_schema)
        assert isinstance(schema, dict)  # noqa: S101 (a catalogue schema is an object)
        if self.guards(spec) and schema.get("type") == "object":
            schema["properties"] = {**schema.get("properties", {}), DRAFT_ARGUMENT: dict(_DRAFT_SCHEMA)}
        return schema

    async def call(
        self, principal: Principal, spec: ToolSpec, arguments: Mapping[str, Any], channel: Channel, execute: Execute
    ) -> tuple[ToolResult, str]:
        """Draft, commit, or run a guarded write call.

        Raises:
            ToolArgumentError: invalid arguments (including a malformed draft id).
        """
        draft_id, values = _split(arguments, channel)
        request = build_request(spec, values)
        subject = self._subject(principal, spec, values, request)
        if draft_id is not None:
            return await self._commit(principal, spec, subject, draft_id, channel, execute, request)
        decision = self.policy.decide(spec.name, values, principal.client_id)
        if decision == "confirm":
            return await self._draft(principal, spec, subject, values, channel)
        if decision == "trusted":
            await self.audit.append(
                "intent.skipped_trusted",
                client_id=principal.client_id,
                user_id=principal.user_id,
                tool=spec.name,
                intent_hash=subject.intent_hash(),
            )
        return await execute(request)

    def _subject(
        self, principal: Principal, spec: ToolSpec, values: dict[str, Any], request: UpstreamRequest
    ) -> IntentSubject:
        subject = IntentSubject(
            spec.name, values, principal.user_id, principal.client_id, request.method, self._base(request), request.path
        )
        try:
            subject.canonical_arguments().encode("utf-8")
        except UnicodeEncodeError:
            raise ToolArgumentError("$: strings must be valid Unicode (no unpaired surrogates)") from None
        return subject

    async def _draft(
        self, principal: Principal, spec: ToolSpec, subject: IntentSubject, values: dict[str, Any], channel: Channel
    ) -> tuple[ToolResult, str]:
        try:
            draft = await self.run(service.save_draft, self.ctx, subject, principal.grant_id)
        except service.TooManyDrafts:
            text = "Too many operations already await the user's confirmation. Nothing was done."
            return text_result(text, error=True, data={"status": "too_many_drafts"}), "too-many-drafts"
        url = f"{self.ctx.issuer}/confirm/{draft.draft_id}"
        return confirmation_result(draft, url, spec.title or spec.name, values, channel), "drafted"

    async def _commit(
        self,
        principal: Principal,
        spec: ToolSpec,
        subject: IntentSubject,
        draft_id: str,
        channel: Channel,
        execute: Execute,
        request: UpstreamRequest,
    ) -> tuple[ToolResult, str]:
        attempt = CommitAttempt(principal.user_id, principal.grant_id, subject.intent_hash())
        if channel.declined:
            await self.run(service.refuse_commit, self.ctx, draft_id, attempt, "declined")
            return refusal_result("declined"), "commit-refused"
        try:
            await self.run(service.commit, self.ctx, draft_id, attempt)
        except service.CommitRefused as exc:
            if exc.reason == "not_confirmed" and exc.draft is not None:
                url = f"{self.ctx.issuer}/confirm/{exc.draft.draft_id}"
                values = json.loads(exc.draft.arguments)
                pending = confirmation_result(exc.draft, url, spec.title or spec.name, values, channel, again=True)
                return pending, "confirmation-pending"
            return refusal_result(exc.reason), "commit-refused"
        result, outcome = await execute(request)
        if outcome != "ok":
            first = result.content[0]
            text = first.text if isinstance(first, types.TextContent) else ""
            result = text_result(text + _SPENT, error=True, data={"status": "upstream_failed", "reason": outcome})
        return result, outcome


def _split(arguments: Mapping[str, Any], channel: Channel) -> tuple[str | None, dict[str, Any]]:
    """The draft id (the reserved argument, else a 2026-07-28 ``request_state``) and the tool's own arguments.

    Raises:
        ToolArgumentError: a draft id that is not a short string, or two different draft ids.
    """
    values = {key: value for key, value in arguments.items() if key != DRAFT_ARGUMENT}
    given = arguments.get(DRAFT_ARGUMENT)
    if given is not None and (not isinstance(given, str) or not 0 < len(given) <= service.MAX_DRAFT_ID):
        raise ToolArgumentError(f"$.{DRAFT_ARGUMENT}: must be the draft_id string Deputy returned")
    if given is not None and channel.request_state is not None and given != channel.request_state:
        raise ToolArgumentError(f"$.{DRAFT_ARGUMENT}: differs from the request state of this call")
    return given if given is not None else channel.request_state, values
