"""From a tool call's arguments to the one upstream request it stands for: validated, then expanded. Pure.

Arguments come from an MCP client, i.e. from a language model that may be reading attacker-written text, so they
are treated as hostile: they are checked against the tool's JSON Schema before anything is built, path values are
percent-encoded whole (``../x`` stays one segment, ``a/b`` cannot add one) and nested values never reach a query
string. Error messages name the argument and the failed rule but never echo the input, so a huge or crafted value
cannot flood or inject into what the client shows.
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final
from urllib.parse import quote

from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from jsonschema.exceptions import ValidationError, best_match  # type: ignore[import-untyped]
from referencing import Registry

from deputy.errors import DeputyError
from deputy.resource.catalogue import Method, ToolSpec

__all__ = ["ToolArgumentError", "UpstreamRequest", "build_request", "validate_arguments"]

MAX_MESSAGE: Final = 300
MAX_DEPTH: Final = 32
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_SCALAR_KEYWORDS: Final = frozenset(
    {
        "minLength",
        "maxLength",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "minItems",
        "maxItems",
        "minProperties",
        "maxProperties",
        "pattern",
        "format",
    }
)


class ToolArgumentError(DeputyError):
    """The arguments do not fit the tool. ``message`` (≤ 300 chars) names the argument and rule, never the value."""

    def __init__(self, message: str) -> None:
        self.message = message[:MAX_MESSAGE]
        super().__init__(self.message)


@dataclass(frozen=True)
class UpstreamRequest:
    """One upstream call, without credentials: ``path`` is relative to the API base URL and already encoded."""

    method: Method
    path: str
    query: tuple[tuple[str, str], ...] = ()
    json: object | None = None
    scope: str | None = None  # the Deputy scope the operation needs; the broker checks it against the caller's grant
    downstream: str | None = None  # a configured downstream service instead of the upstream API


def validate_arguments(tool: ToolSpec, arguments: object) -> dict[str, object]:
    """The arguments as a new dict, if they are a JSON object the tool's input schema accepts (absent means {}).

    Raises:
        ToolArgumentError: not an object, not plain JSON, or the schema's first relevant complaint.
    """
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, Mapping):
        raise ToolArgumentError("$: arguments must be a JSON object")
    _check_json(arguments, "$", 0)
    values = copy.deepcopy(dict(arguments))
    error = best_match(_validator(tool).iter_errors(values))
    if error is not None:
        raise ToolArgumentError(_describe(error))
    return values


def build_request(tool: ToolSpec, arguments: object) -> UpstreamRequest:
    """Validate the arguments, put placeholders into the path and the rest where the tool's ``body`` says.

    Raises:
        ToolArgumentError: invalid arguments, a path value that is empty, ``.`` or ``..``, a nested value for the
            query, or any non-path argument for a tool whose body is ``none``.
    """
    values = validate_arguments(tool, arguments)
    path = _PLACEHOLDER.sub(lambda match: _path_value(match.group(1), values.get(match.group(1))), tool.path)
    rest = {key: value for key, value in values.items() if key not in tool.placeholders}
    if tool.body == "json":
        return UpstreamRequest(tool.method, path, json=rest, scope=tool.scope, downstream=tool.downstream)
    if tool.body == "query":
        return UpstreamRequest(tool.method, path, query=_query(rest), scope=tool.scope, downstream=tool.downstream)
    if rest:
        raise ToolArgumentError(f"{_json_path((next(iter(rest)),))}: this tool takes no such argument")
    return UpstreamRequest(tool.method, path, scope=tool.scope, downstream=tool.downstream)


# --- validation -----------------------------------------------------------------------------------------------


@lru_cache(maxsize=512)
def _validator(tool: ToolSpec) -> Any:
    # An empty registry: a reference outside the schema (the catalogue refuses them) could never be fetched.
    return Draft202012Validator(tool.input_schema_dict(), registry=Registry())


def _check_json(value: object, where: str, depth: int) -> None:
    """Plain JSON only: string keys, finite numbers, bounded nesting (a deep value must not exhaust the stack)."""
    if depth > MAX_DEPTH:
        raise ToolArgumentError(f"{where}: nested more than {MAX_DEPTH} levels deep")
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ToolArgumentError(f"{where}: object keys must be strings")
            _check_json(item, _json_path((key,), where), depth + 1)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _check_json(item, f"{where}[{index}]", depth + 1)
    elif isinstance(value, float) and not math.isfinite(value):
        raise ToolArgumentError(f"{where}: must be a finite number")
    elif not (value is None or isinstance(value, str | int | float)):
        raise ToolArgumentError(f"{where}: is not a JSON value")


def _describe(error: ValidationError) -> str:
    """``$.email: must match pattern …`` — the location and the schema's rule, from the schema, not the input."""
    keyword, expected = error.validator, error.validator_value
    where = _json_path(tuple(error.absolute_path))
    if keyword == "required":
        present = error.instance if isinstance(error.instance, Mapping) else {}
        missing = [name for name in expected if name not in present]
        return f"{where}: missing required property {_short(missing[0] if missing else '?')}"
    if keyword == "additionalProperties" and expected is False:
        allowed = ", ".join(str(name) for name in error.schema.get("properties", {})) or "none"
        return f"{where}: unexpected property (allowed: {allowed})"[:MAX_MESSAGE]
    if keyword == "type":
        types = expected if isinstance(expected, list) else [expected]
        return f"{where}: must be of type {' or '.join(str(t) for t in types)}"[:MAX_MESSAGE]
    if keyword == "enum":
        choices = ", ".join(_short(choice, 40) for choice in expected)
        return f"{where}: must be one of {choices}"[:MAX_MESSAGE]
    if keyword in _SCALAR_KEYWORDS:
        return f"{where}: fails {keyword} {_short(expected, 120)}"
    return f"{where}: fails {keyword or 'the schema'}"


def _short(value: object, limit: int = 40) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _json_path(parts: Sequence[object], root: str = "$") -> str:
    """A JSONPath like ``$.items[0]["odd key"]``; each key is cut to 40 characters."""
    out = [root]
    for part in parts:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif _IDENTIFIER.fullmatch(str(part)) and len(str(part)) <= 40:
            out.append(f".{part}")
        else:
            out.append(f"[{_short(str(part))}]")
    return "".join(out)[:200]


# --- expansion ------------------------------------------------------------------------------------------------


def _path_value(name: str, value: object) -> str:
    """One placeholder's value as a single encoded segment: ``/`` becomes %2F, non-ASCII UTF-8 percent-escapes."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ToolArgumentError(f"{_json_path((name,))}: must be a string or an integer")
    text = _text(name, value)
    if text in ("", ".", ".."):
        raise ToolArgumentError(f"{_json_path((name,))}: must not be empty, . or ..")
    return quote(text, safe="")


def _query(values: Mapping[str, object]) -> tuple[tuple[str, str], ...]:
    """Scalars as one ``key=value``, arrays as repeated keys (OpenAPI form/explode), null as absent."""
    pairs: list[tuple[str, str]] = []
    for key, value in values.items():
        items = value if isinstance(value, list) else [] if value is None else [value]
        pairs += [(key, _query_scalar(key, item)) for item in items]
    return tuple(pairs)


def _query_scalar(key: str, value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return str(int(value))  # 5.0 passes "type": "integer"; servers expect "5"
    if isinstance(value, str | int | float):
        return _text(key, value)
    raise ToolArgumentError(f"{_json_path((key,))}: only strings, numbers, booleans and lists of them fit a query")


def _text(name: str, value: str | int | float) -> str:
    try:
        return value if isinstance(value, str) else repr(value) if isinstance(value, float) else str(value)
    except ValueError:  # an int beyond Python's digit limit for str()
        raise ToolArgumentError(f"{_json_path((name,))}: number is too large") from None
