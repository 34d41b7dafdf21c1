"""Which tool calls run as drafts: the ``[intents]`` policy, checked against the catalogue once at start-up.

Read tools always run directly. A write tool needs the user's confirmation when it is in ``require_confirmation``
(unset: every write tool), unless a threshold for it says this call is small enough, or the calling client is a
pre-registered client the operator trusts with that tool (each such skip is audited, ``intent.skipped_trusted``).
Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

from deputy.config import IntentSettings, IntentThreshold
from deputy.errors import ConfigError
from deputy.resource.catalogue import Catalogue, ToolSpec

__all__ = ["DRAFT_ARGUMENT", "Decision", "IntentPolicy", "build_policy"]

DRAFT_ARGUMENT: Final = "_deputy_draft"
"""The reserved argument that turns a write tool call into the commit of a confirmed draft (docs/intents.md)."""

Decision = Literal["direct", "confirm", "trusted"]


@dataclass(frozen=True)
class IntentPolicy:
    enabled: bool
    confirm: frozenset[str] = frozenset()
    thresholds: Mapping[str, IntentThreshold] = field(default_factory=dict)
    trusted: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def guards(self, tool: str) -> bool:
        """Whether calls of ``tool`` may need a confirmation (and so accept ``DRAFT_ARGUMENT``)."""
        return self.enabled and tool in self.confirm

    def decide(self, tool: str, arguments: Mapping[str, object], client_id: str) -> Decision:
        """``confirm``: draft it; ``trusted``: run it, audited as a skip; ``direct``: run it."""
        if not self.guards(tool) or not self._above_threshold(tool, arguments):
            return "direct"
        if tool in self.trusted.get(client_id, frozenset()):
            return "trusted"
        return "confirm"

    def _above_threshold(self, tool: str, arguments: Mapping[str, object]) -> bool:
        threshold = self.thresholds.get(tool)
        if threshold is None:
            return True
        value = arguments.get(threshold.field)
        if value is None:
            return False  # the call does not touch the guarded field
        if isinstance(value, bool) or not isinstance(value, int | float):
            return True  # not comparable: confirm rather than guess
        return value > threshold.above


def build_policy(settings: IntentSettings, catalogue: Catalogue, static_clients: Iterable[str]) -> IntentPolicy:
    """The policy, with every name checked.

    Raises:
        ConfigError: a listed tool that is not a write tool of the catalogue, a threshold on a tool that needs no
            confirmation or on a field the tool does not take, a trusted client that is not pre-registered, or a
            guarded tool whose schema already uses the reserved argument name.
    """
    if not settings.enabled:
        return IntentPolicy(enabled=False)
    writes = {t.name: t for t in catalogue.tools if t.kind == "write"}
    listed = settings.require_confirmation
    confirm = frozenset(writes) if listed is None else frozenset(_write_tools(listed, writes, "require_confirmation"))
    for name in confirm:
        if DRAFT_ARGUMENT in _properties(writes[name]):
            raise ConfigError(f"tools.{name}: the argument name {DRAFT_ARGUMENT} is reserved for intent commits")
    for name, threshold in settings.thresholds.items():
        if name not in confirm:
            raise ConfigError(f"intents.thresholds.{name[:64]}: not a tool that requires confirmation")
        if threshold.field not in _properties(writes[name]):
            raise ConfigError(f"intents.thresholds.{name}.field: {name} takes no argument {threshold.field[:64]!r}")
    known = set(static_clients)
    trusted: dict[str, frozenset[str]] = {}
    for client_id, tools in settings.trusted_clients.items():
        if client_id not in known:
            raise ConfigError(f"intents.trusted_clients: {client_id[:64]!r} is not a pre-registered client")
        trusted[client_id] = frozenset(_write_tools(tools, writes, f"trusted_clients.{client_id}"))
    return IntentPolicy(True, confirm, dict(settings.thresholds), trusted)


def _write_tools(names: Iterable[str], writes: Mapping[str, ToolSpec], key: str) -> list[str]:
    out = []
    for name in names:
        if name not in writes:
            raise ConfigError(f"intents.{key}: {name[:64]!r} is not a write tool of the catalogue")
        out.append(name)
    return out


def _properties(spec: ToolSpec) -> Mapping[str, object]:
    properties = spec.input_schema.get("properties")
    return properties if isinstance(properties, Mapping) else {}
