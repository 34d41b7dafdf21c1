"""The tool catalogue: which upstream API operations Deputy exposes as MCP tools, and which Deputy scope each needs.

Pure data and validation; the only I/O is reading a catalogue file. A ``ToolSpec`` checks itself when it is built,
so every spec that exists is one ``requests.build_request`` can expand safely: each path placeholder is a required
string or integer argument, the input schema is a valid JSON Schema (draft 2020-12) whose references are all local
(a remote ``$ref`` would make argument validation fetch URLs), and the schema is deep-frozen so that no code can
widen a tool after the operator reviewed it.

The catalogue is a TOML file an operator reads and edits (``[tools.NAME]`` tables, ``input_schema`` kept as JSON in
a literal string). ``catalogue_from_openapi`` drafts one from an OpenAPI 3.x document; operations it cannot express
as a tool are reported, never guessed at.
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal, NamedTuple, NoReturn, cast, get_args
from urllib.parse import unquote

from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from jsonschema.exceptions import SchemaError  # type: ignore[import-untyped]

from deputy.errors import ConfigError

__all__ = [
    "BODY_MODES",
    "KINDS",
    "METHODS",
    "BodyMode",
    "Catalogue",
    "ImportResult",
    "Kind",
    "Method",
    "ScopeRule",
    "SkippedOperation",
    "ToolSpec",
    "catalogue_from_openapi",
    "default_body",
    "dump_catalogue",
    "load_catalogue",
    "parse_catalogue",
    "thaw",
    "tool_name",
]

Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
Kind = Literal["read", "write"]
BodyMode = Literal["json", "query", "none"]
ScopeRule = str | Callable[[str], str]

METHODS: Final[tuple[Method, ...]] = get_args(Method)
KINDS: Final[tuple[Kind, ...]] = get_args(Kind)
BODY_MODES: Final[tuple[BodyMode, ...]] = get_args(BodyMode)

CATALOGUE_VERSION: Final = 1
DRAFT_2020_12: Final = "https://json-schema.org/draft/2020-12/schema"
MAX_SCHEMA_DEPTH: Final = 64

_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
_DOWNSTREAM: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_SCOPE = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")  # RFC 6749 §3.3 scope-token
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_PATH_LITERAL = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:@/]*")  # RFC 3986 pchar and "/", without "%"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_MULTILINE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")

# Where subschemas sit in a 2020-12 schema; anything else is data (enum, const, default) or an annotation.
_SUBSCHEMA_MAPS: Final = frozenset({"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"})
_SUBSCHEMA_LISTS: Final = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})
_SUBSCHEMA_ONE: Final = frozenset(
    {"additionalProperties", "items", "contains", "not", "if", "then", "else", "propertyNames", "unevaluatedItems"}
    | {"unevaluatedProperties", "contentSchema"}
)


def default_body(method: str) -> BodyMode:
    """Where non-path arguments go when a catalogue does not say: the query for GET and DELETE, else a JSON body."""
    return "query" if method in ("GET", "DELETE") else "json"


# --- deep-frozen JSON -----------------------------------------------------------------------------------------


class _FrozenDict(dict[str, object]):
    """A read-only dict. A dict subclass (not a MappingProxyType) so ``json.dumps`` still serialises it."""

    def _refuse(self, *args: object, **kwargs: object) -> NoReturn:
        raise TypeError("tool schemas are immutable")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = __ior__ = _refuse

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(self.items()))

    def __copy__(self) -> _FrozenDict:
        return self

    def __deepcopy__(self, memo: object) -> _FrozenDict:
        return self  # immutable all the way down, so sharing is copying


class _FrozenList(tuple[object, ...]):
    """A read-only JSON array that still equals a list with the same items, as the JSON it stands for does."""

    def __eq__(self, other: object) -> bool:
        return list(self) == other if isinstance(other, list) else tuple.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = tuple.__hash__

    def __copy__(self) -> _FrozenList:
        return self

    def __deepcopy__(self, memo: object) -> _FrozenList:
        return self


def _freeze(value: object, where: str, depth: int = 0) -> object:
    """A deep, immutable copy of a JSON value: objects become read-only dicts, arrays read-only lists."""
    if depth > MAX_SCHEMA_DEPTH:
        raise ConfigError(f"{where}: nested more than {MAX_SCHEMA_DEPTH} levels deep")
    if isinstance(value, Mapping):
        if not all(isinstance(key, str) for key in value):
            raise ConfigError(f"{where}: object keys must be strings")
        return _FrozenDict({key: _freeze(item, where, depth + 1) for key, item in value.items()})
    if isinstance(value, list | tuple):
        return _FrozenList(_freeze(item, where, depth + 1) for item in value)
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{where}: {value} is not a JSON number")
    if value is None or isinstance(value, str | int | float):  # bool is an int
        return value
    raise ConfigError(f"{where}: a {type(value).__name__} is not a JSON value")


def thaw(value: object) -> object:
    """A mutable deep copy of a (frozen or plain) JSON value, with plain dicts and lists."""
    if isinstance(value, Mapping):
        return {key: thaw(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [thaw(item) for item in value]
    return value


def _subschemas(schema: Mapping[str, object]) -> Iterator[object]:
    for key, value in schema.items():
        if key in _SUBSCHEMA_MAPS and isinstance(value, Mapping):
            yield from value.values()
        elif key in _SUBSCHEMA_LISTS and isinstance(value, list | tuple):
            yield from value
        elif key in _SUBSCHEMA_ONE:
            yield from value if isinstance(value, list | tuple) else (value,)


def _pointer(document: object, ref: str) -> object:
    """Resolve a ``#/a/b`` JSON Pointer (RFC 6901) inside ``document``; LookupError when it points nowhere."""
    node = document
    for raw in ref[2:].split("/") if ref != "#" else ():
        part = unquote(raw).replace("~1", "/").replace("~0", "~")
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list | tuple) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise LookupError(ref)
    return node


# --- tool specs -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ToolSpec:
    """One MCP tool: an upstream operation, the arguments it takes and the Deputy scope a caller must hold.

    ``input_schema`` is stored deep-frozen (read-only dict and tuple subclasses that compare equal to plain dicts
    and lists; ``json.dumps`` works on it);
    ``input_schema_dict()`` gives a mutable copy. ``placeholders`` lists the path template's argument names.
    """

    name: str
    title: str | None
    description: str
    method: Method
    path: str
    input_schema: Mapping[str, object]
    scope: str
    kind: Kind
    body: BodyMode
    # The configured downstream service (``[downstream.NAME]``) this tool calls instead of the upstream API, with a
    # token minted for that service by token exchange; None for upstream tools.
    downstream: str | None = None
    placeholders: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        where = f"tools.{str(self.name)[:64]}"
        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name):
            raise ConfigError(f"{where}: a tool name must match ^[a-z][a-z0-9_]{{0,63}}$")
        _check_text(self.title, f"{where}.title", optional=True)
        _check_text(self.description, f"{where}.description", multiline=True)
        _check_choice(self.method, METHODS, f"{where}.method")
        _check_choice(self.kind, KINDS, f"{where}.kind")
        _check_choice(self.body, BODY_MODES, f"{where}.body")
        if not isinstance(self.scope, str) or not _SCOPE.fullmatch(self.scope):
            raise ConfigError(f"{where}.scope: must be one OAuth scope token (no spaces)")
        if self.downstream is not None and (
            not isinstance(self.downstream, str) or not _DOWNSTREAM.fullmatch(self.downstream)
        ):
            raise ConfigError(f"{where}.downstream: must name a [downstream.NAME] service")
        schema = _checked_schema(self.input_schema, f"{where}.input_schema")
        object.__setattr__(self, "input_schema", schema)
        object.__setattr__(self, "placeholders", _checked_path(self.path, schema, f"{where}.path"))
        _check_body(self, schema, f"{where}.body")

    def input_schema_dict(self) -> dict[str, object]:
        """A mutable deep copy of the input schema, e.g. for an MCP ``tools/list`` answer."""
        return cast(dict[str, object], thaw(self.input_schema))


def _check_text(value: object, where: str, *, optional: bool = False, multiline: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: must be a non-empty string")
    if (_CONTROL_MULTILINE if multiline else _CONTROL).search(value) or _SURROGATE.search(value):
        raise ConfigError(f"{where}: must not contain control characters or lone surrogates")


def _check_choice(value: object, choices: tuple[str, ...], where: str) -> None:
    if value not in choices:
        raise ConfigError(f"{where}: must be one of {', '.join(choices)}")


def _checked_schema(schema: object, where: str) -> Mapping[str, object]:
    if not isinstance(schema, Mapping):
        raise ConfigError(f"{where}: must be a JSON object")
    frozen = cast(Mapping[str, object], _freeze(schema, where))
    if frozen.get("type") != "object":
        raise ConfigError(f'{where}: the top-level "type" must be "object"')
    if frozen.get("$schema", DRAFT_2020_12) != DRAFT_2020_12:
        raise ConfigError(f"{where}: $schema must be {DRAFT_2020_12} (or absent)")
    try:
        Draft202012Validator.check_schema(thaw(frozen))
    except SchemaError as exc:
        location = "/".join(str(part) for part in exc.absolute_path)
        raise ConfigError(f"{where}: not a valid JSON Schema at /{location}: {exc.message[:200]}") from None
    _check_references(frozen, where)
    return frozen


def _check_references(root: Mapping[str, object], where: str) -> None:
    """Only same-document references that resolve: validation must never fetch anything or fail half-way."""
    pending: list[object] = [root]
    while pending:
        node = pending.pop()
        if not isinstance(node, Mapping):
            continue
        if "$id" in node and node is not root:
            raise ConfigError(f"{where}: $id is only allowed at the top level")
        for keyword in ("$ref", "$dynamicRef"):
            ref = node.get(keyword)
            if isinstance(ref, str) and not ref.startswith("#"):
                raise ConfigError(f"{where}: {keyword} {ref[:80]!r} is not a local reference")
            if keyword == "$ref" and isinstance(ref, str) and not _resolves(root, ref):
                raise ConfigError(f"{where}: $ref {ref[:80]!r} does not resolve to a part of this schema")
        pending.extend(_subschemas(node))


def _resolves(root: Mapping[str, object], ref: str) -> bool:
    if ref != "#" and not ref.startswith("#/"):
        return False
    try:
        _pointer(root, ref)
    except LookupError:
        return False
    return True


def _checked_path(path: object, schema: Mapping[str, object], where: str) -> tuple[str, ...]:
    if not isinstance(path, str) or not path.startswith("/"):
        raise ConfigError(f"{where}: must be a string starting with /")
    names = tuple(_PLACEHOLDER.findall(path))
    literal = _PLACEHOLDER.sub("x", path)
    if not _PATH_LITERAL.fullmatch(literal):
        raise ConfigError(f"{where}: only {{name}} placeholders and URL path characters (no %, ?, #) are allowed")
    if any(segment in (".", "..") for segment in literal.split("/")):
        raise ConfigError(f"{where}: . and .. segments are not allowed")
    if len(set(names)) != len(names):
        raise ConfigError(f"{where}: a placeholder appears twice")
    properties = schema.get("properties")
    properties = properties if isinstance(properties, Mapping) else {}
    required = schema.get("required", ())
    for name in names:
        if name not in properties:
            raise ConfigError(f"{where}: placeholder {{{name}}} is not a declared property")
        if not isinstance(required, tuple) or name not in required:
            raise ConfigError(f"{where}: placeholder {{{name}}} is not a required property")
        if not _is_path_type(schema, properties[name]):
            raise ConfigError(f'{where}: placeholder {{{name}}} must be of type "string" or "integer"')
    return names


def _is_path_type(root: Mapping[str, object], schema: object) -> bool:
    for _ in range(8):  # follow a few local $refs: {"$ref": "#/$defs/id"} is a common way to declare an id
        ref = schema.get("$ref") if isinstance(schema, Mapping) and "type" not in schema else None
        if not isinstance(ref, str) or not _resolves(root, ref):
            break
        schema = _pointer(root, ref)
    if not isinstance(schema, Mapping):
        return False
    declared = schema.get("type")
    types = (declared,) if isinstance(declared, str) else declared if isinstance(declared, tuple) else ()
    return bool(types) and set(types) <= {"string", "integer"}


def _check_body(tool: ToolSpec, schema: Mapping[str, object], where: str) -> None:
    if tool.body == "json" and tool.method == "GET":
        raise ConfigError(f"{where}: a GET request cannot carry a JSON body")
    properties = schema.get("properties")
    extra = set(properties) - set(tool.placeholders) if isinstance(properties, Mapping) else set()
    if tool.body == "none" and extra:
        raise ConfigError(f"{where}: is none, but property {sorted(extra)[0]!r} is not a path placeholder")


# --- the catalogue --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Catalogue:
    """The tools Deputy serves, in order, with unique names."""

    tools: tuple[ToolSpec, ...] = ()
    _index: Mapping[str, ToolSpec] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index: dict[str, ToolSpec] = {}
        for tool in self.tools:
            if not isinstance(tool, ToolSpec):
                raise ConfigError(f"tools: {type(tool).__name__} is not a ToolSpec")
            if tool.name in index:
                raise ConfigError(f"tools.{tool.name}: duplicate tool name")
            index[tool.name] = tool
        object.__setattr__(self, "tools", tuple(self.tools))
        object.__setattr__(self, "_index", index)

    def get(self, name: str) -> ToolSpec | None:
        return self._index.get(name)

    def read_tools(self) -> tuple[ToolSpec, ...]:
        return tuple(tool for tool in self.tools if tool.kind == "read")

    def write_tools(self) -> tuple[ToolSpec, ...]:
        return tuple(tool for tool in self.tools if tool.kind == "write")


# --- TOML -----------------------------------------------------------------------------------------------------

_TOOL_KEYS: Final = ("title", "description", "method", "path", "scope", "kind", "body", "input_schema", "downstream")
_REQUIRED_KEYS: Final = ("description", "method", "path", "scope", "kind", "input_schema")


def load_catalogue(path: Path) -> Catalogue:
    """Read and validate a catalogue file. Raises ConfigError naming the file or the offending tool and key."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the tool catalogue ({exc.strerror or type(exc).__name__})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not a valid TOML file ({exc})") from None
    return parse_catalogue(data)


def parse_catalogue(data: Mapping[str, object]) -> Catalogue:
    """Build a catalogue from parsed TOML (``version = 1`` and ``[tools.NAME]`` tables)."""
    if not isinstance(data, Mapping):
        raise ConfigError("catalogue: must be a table")
    for key in data:
        if key not in ("version", "tools"):
            raise ConfigError(f"{key}: unknown key (expected version and tools)")
    version = data.get("version")
    if version != CATALOGUE_VERSION or isinstance(version, bool):
        raise ConfigError(f"version: must be {CATALOGUE_VERSION}")
    tables = data.get("tools", {})
    if not isinstance(tables, Mapping):
        raise ConfigError("tools: must be a table of [tools.NAME] tables")
    return Catalogue(tuple(_parse_tool(str(name), table) for name, table in tables.items()))


def _parse_tool(name: str, table: object) -> ToolSpec:
    where = f"tools.{name[:64]}"
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where}: must be a table")
    for key in table:
        if key not in _TOOL_KEYS:
            raise ConfigError(f"{where}.{key}: unknown key")
    for key in _REQUIRED_KEYS:
        if key not in table:
            raise ConfigError(f"{where}.{key}: missing")
    method = table["method"]
    return ToolSpec(
        name=name,
        title=cast(str | None, table.get("title")),
        description=cast(str, table["description"]),
        method=cast(Method, method),
        path=cast(str, table["path"]),
        input_schema=_schema_value(table["input_schema"], f"{where}.input_schema"),
        scope=cast(str, table["scope"]),
        kind=cast(Kind, table["kind"]),
        body=cast(BodyMode, table.get("body", default_body(str(method)))),
        downstream=cast(str | None, table.get("downstream")),
    )


def _schema_value(value: object, where: str) -> Mapping[str, object]:
    if isinstance(value, Mapping):
        return value
    if not isinstance(value, str):
        raise ConfigError(f"{where}: must be a JSON object in a string, or a table")
    try:
        parsed = json.loads(value, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{where}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except (ValueError, RecursionError) as exc:
        raise ConfigError(f"{where}: not valid JSON ({str(exc)[:80]})") from None
    if not isinstance(parsed, Mapping):
        raise ConfigError(f"{where}: must be a JSON object")
    return cast(Mapping[str, object], parsed)


def _no_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not valid JSON")


def dump_catalogue(catalogue: Catalogue) -> str:
    """TOML text that ``load_catalogue`` reads back to an equal catalogue; schemas stay readable, indented JSON."""
    lines = [f"version = {CATALOGUE_VERSION}", ""]
    for tool in catalogue.tools:
        lines.append(f"[tools.{tool.name}]")
        if tool.title is not None:
            lines.append(f"title = {_toml_string(tool.title)}")
        for key in ("description", "method", "path", "scope", "kind", "body"):
            lines.append(f"{key} = {_toml_string(str(getattr(tool, key)))}")
        if tool.downstream is not None:
            lines.append(f"downstream = {_toml_string(tool.downstream)}")
        lines += ["input_schema = '''", _toml_literal_json(tool.input_schema), "'''", ""]
    return "\n".join(lines)


_TOML_ESCAPES: Final = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def _toml_string(text: str) -> str:
    """A TOML basic string; control characters become escapes (surrogates never reach here: specs refuse them)."""
    escaped = (_TOML_ESCAPES.get(ch) or (f"\\u{ord(ch):04x}" if _CONTROL.match(ch) else ch) for ch in text)
    return '"' + "".join(escaped) + '"'


def _toml_literal_json(schema: Mapping[str, object]) -> str:
    """JSON for a ``'''`` literal string, which has no escapes: what it cannot hold is written as JSON escapes.

    JSON has no quote characters outside strings, so every ``'`` is inside a JSON string, where ``\\u0027`` means
    the same. A run of three would end the TOML string; DEL and lone surrogates are not allowed in TOML at all.
    """
    text = _pretty_json(schema)
    text = re.sub(r"'{3,}", lambda m: "\\u0027" * len(m.group()), text)
    return re.sub(r"[\x7f\ud800-\udfff]", lambda m: f"\\u{ord(m.group()):04x}", text)


def _pretty_json(value: object, level: int = 0) -> str:
    """Indented JSON, except that arrays of scalars (``"type": ["string", "null"]``) stay on one line."""
    pad, inner = "  " * level, "  " * (level + 1)
    if isinstance(value, Mapping) and value:
        items = [
            f"{inner}{json.dumps(key, ensure_ascii=False)}: {_pretty_json(item, level + 1)}"
            for key, item in value.items()
        ]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(value, list | tuple) and any(isinstance(item, Mapping | list | tuple) for item in value):
        return "[\n" + ",\n".join(f"{inner}{_pretty_json(item, level + 1)}" for item in value) + f"\n{pad}]"
    return json.dumps(value, ensure_ascii=False)


# --- OpenAPI import -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SkippedOperation:
    """An operation the importer could not turn into a tool, and why (for the operator, not for clients)."""

    method: str
    path: str
    operation_id: str | None
    reason: str


class ImportResult(NamedTuple):
    """``catalogue, skipped = catalogue_from_openapi(...)`` or ``result.catalogue`` / ``result.skipped``."""

    catalogue: Catalogue
    skipped: tuple[SkippedOperation, ...]


class _Unconvertible(Exception):
    """This operation cannot be expressed as a tool; the message says why."""


_HTTP_METHODS: Final = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_ANNOTATIONS: Final = frozenset(
    {"description", "title", "example", "examples", "default", "deprecated", "readOnly", "writeOnly", "summary"}
)
# What a request body schema may say at its top level and still be merged into the tool's argument object.
_BODY_KEYS: Final = _ANNOTATIONS | frozenset(
    {"type", "properties", "required", "additionalProperties", "minProperties", "maxProperties", "$schema"}
)


def catalogue_from_openapi(doc: Mapping[str, Any], *, read_scope: ScopeRule, write_scope: ScopeRule) -> ImportResult:
    """Draft a catalogue from an OpenAPI 3.x document: one tool per operation with an ``operationId``.

    The tool's arguments are its path and query parameters plus the properties of its JSON request body (local
    ``$ref``s inlined; remote ones refused). GET operations are ``read`` tools; POST, PUT, PATCH and DELETE are
    ``write`` tools; HEAD, OPTIONS and TRACE are skipped.
    A scope rule that is a string is the tool's scope; a function maps the operation's OAuth scopes (from its
    ``security``, else the document's) to one Deputy scope, and an operation without any is skipped.

    Returns:
        The catalogue and the operations that were skipped, each with a reason.

    Raises:
        ConfigError: the document is not an OpenAPI 3.x document at all.
    """
    if not isinstance(doc, Mapping) or not str(doc.get("openapi", "")).startswith("3."):
        raise ConfigError("openapi: only OpenAPI 3.x documents can be imported")
    paths = doc.get("paths")
    if not isinstance(paths, Mapping):
        raise ConfigError("openapi: the document has no paths object")
    importer = _Importer(doc, {"read": read_scope, "write": write_scope})
    tools: dict[str, ToolSpec] = {}
    skipped: list[SkippedOperation] = []
    for path, item in paths.items():
        for method, operation in _operations(item):
            opid = operation.get("operationId") if isinstance(operation, Mapping) else None
            try:
                tool = importer.tool(str(path), method, cast(Mapping[str, Any], item), operation)
                if tool.name in tools:
                    raise _Unconvertible(f"tool name {tool.name!r} is already taken")
            except (_Unconvertible, ConfigError) as exc:
                reason = str(exc)[:300]
                skipped.append(
                    SkippedOperation(method.upper(), str(path), opid if isinstance(opid, str) else None, reason)
                )
                continue
            tools[tool.name] = tool
    return ImportResult(Catalogue(tuple(tools.values())), tuple(skipped))


def _operations(item: object) -> Iterator[tuple[str, Any]]:
    if isinstance(item, Mapping) and "$ref" not in item:
        yield from ((key, value) for key, value in item.items() if key in _HTTP_METHODS)
    else:
        yield "*", None


def tool_name(operation_id: str) -> str:
    """``getContactById`` → ``get_contact_by_id``: the MCP tool name rule, from an operationId."""
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", operation_id)
    name = re.sub(r"[^a-z0-9]+", "_", snake.lower()).strip("_")
    if not name:
        raise _Unconvertible(f"operationId {operation_id[:80]!r} has no usable characters")
    if not name[0].isalpha():
        name = "op_" + name
    return name[:64].rstrip("_")


class _Importer:
    """Converts one operation at a time; ``$ref``s are resolved against the whole document."""

    def __init__(self, doc: Mapping[str, Any], rules: Mapping[Kind, ScopeRule]) -> None:
        self.doc = doc
        self.rules = rules
        self.legacy = str(doc.get("openapi", "")).startswith("3.0")  # OpenAPI 3.0 schemas are not 2020-12

    def tool(self, path: str, method: str, item: Mapping[str, Any], operation: object) -> ToolSpec:
        if method == "*":
            raise _Unconvertible("the path item is a $ref or not an object")
        if method not in ("get", "put", "post", "delete", "patch"):
            raise _Unconvertible("only GET, POST, PUT, PATCH and DELETE operations become tools")
        if not isinstance(operation, Mapping):
            raise _Unconvertible("the operation is not an object")
        opid = operation.get("operationId")
        if not isinstance(opid, str) or not opid:
            raise _Unconvertible("the operation has no operationId")
        kind: Kind = "read" if method == "get" else "write"
        schema, body = self._arguments(item, operation)
        if body == "json" and method == "get":
            raise _Unconvertible("a GET operation with a request body")
        title, description = _texts(operation, method, path)
        return ToolSpec(
            name=tool_name(opid),
            title=title,
            description=description,
            method=cast(Method, method.upper()),
            path=path,
            input_schema=schema,
            scope=self._scope(operation, kind),
            kind=kind,
            body=body,
        )

    # arguments

    def _arguments(self, item: Mapping[str, Any], operation: Mapping[str, Any]) -> tuple[dict[str, Any], BodyMode]:
        properties: dict[str, Any] = {}
        required: list[str] = []
        locations = {self._add_parameter(p, properties, required) for p in self._parameters(item, operation)}
        schema: dict[str, Any] = {"type": "object", "properties": properties}
        body = self._body_schema(operation)
        if body is not None and "query" in locations:
            raise _Unconvertible("the operation takes both query parameters and a request body")
        extra = _merge_body(body, properties, required) if body is not None else {"additionalProperties": False}
        if required:
            schema["required"] = required
        schema.update(extra)
        mode: BodyMode = "json" if body is not None else "query" if "query" in locations else "none"
        return schema, mode

    def _parameters(self, item: Mapping[str, Any], operation: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        merged: dict[tuple[str, str], Mapping[str, Any]] = {}
        for source in (item.get("parameters", []), operation.get("parameters", [])):
            if not isinstance(source, list):
                raise _Unconvertible("parameters is not a list")
            for raw in source:
                param = self._deref(raw)
                name, where = param.get("name"), param.get("in")
                if not isinstance(name, str) or where not in ("path", "query", "header", "cookie"):
                    raise _Unconvertible("a parameter lacks a name or a valid location")
                merged[(name, where)] = param  # operation-level parameters override path-level ones
        return list(merged.values())

    def _add_parameter(self, param: Mapping[str, Any], properties: dict[str, Any], required: list[str]) -> str:
        name, where = param["name"], param["in"]
        if where in ("header", "cookie"):
            if param.get("required") is True:
                raise _Unconvertible(f"required {where} parameter {name!r} cannot be passed by a tool")
            return str(where)
        _check_style(param)
        if "schema" not in param:
            raise _Unconvertible(f"parameter {name!r} has no schema")
        schema = self._schema(param["schema"])
        if isinstance(schema, dict) and "description" not in schema and isinstance(param.get("description"), str):
            schema["description"] = param["description"]
        if where == "query" and isinstance(schema, dict) and schema.get("type") == "object":
            raise _Unconvertible(f"query parameter {name!r} is an object")
        if name in properties:
            raise _Unconvertible(f"two parameters are named {name!r}")
        properties[name] = schema
        if where == "path" or param.get("required") is True:
            required.append(name)
        return str(where)

    def _body_schema(self, operation: Mapping[str, Any]) -> dict[str, Any] | None:
        if operation.get("requestBody") is None:
            return None
        content = self._deref(operation["requestBody"]).get("content")
        media = _json_media(content)
        if media is None:
            raise _Unconvertible("the request body is not JSON")
        schema = self._schema(media.get("schema"))
        if not isinstance(schema, dict) or schema.get("type", "object") != "object":
            raise _Unconvertible("the request body is not a JSON object")
        unsupported = sorted(set(schema) - _BODY_KEYS)
        if unsupported:
            raise _Unconvertible(f"the request body schema uses {unsupported[0]}, which tool arguments cannot express")
        return schema

    # references and schemas

    def _deref(self, node: object, hops: int = 0) -> Mapping[str, Any]:
        """A parameter or request body object, following ``$ref`` within the document."""
        if isinstance(node, Mapping) and "$ref" in node:
            if hops > 8:
                raise _Unconvertible("too many chained $refs")
            return self._deref(self._target(node["$ref"]), hops + 1)
        if not isinstance(node, Mapping):
            raise _Unconvertible("a parameter or request body is not an object")
        return node

    def _target(self, ref: object) -> object:
        if not isinstance(ref, str) or not ref.startswith("#/"):
            raise _Unconvertible(f"$ref {str(ref)[:80]!r} is not a local reference; remote references are refused")
        try:
            return _pointer(self.doc, ref)
        except LookupError:
            raise _Unconvertible(f"$ref {ref[:80]!r} does not resolve") from None

    def _schema(self, node: object, seen: tuple[str, ...] = (), depth: int = 0) -> object:
        """A plain deep copy of a schema with every ``$ref`` inlined (a tool schema must stand alone)."""
        if depth > MAX_SCHEMA_DEPTH:
            raise _Unconvertible("a schema is nested too deeply")
        if isinstance(node, bool):
            return node
        if not isinstance(node, Mapping):
            raise _Unconvertible("a schema is not an object")
        if "$ref" in node:
            return self._referenced(node, seen, depth)
        out: dict[str, object] = {}
        for key, value in node.items():
            if key in _SUBSCHEMA_MAPS and isinstance(value, Mapping):
                out[key] = {name: self._schema(sub, seen, depth + 1) for name, sub in value.items()}
            elif (key in _SUBSCHEMA_LISTS or key in _SUBSCHEMA_ONE) and isinstance(value, list):
                out[key] = [self._schema(sub, seen, depth + 1) for sub in value]
            elif key in _SUBSCHEMA_ONE:
                out[key] = self._schema(value, seen, depth + 1)
            else:
                out[key] = thaw(value)
        return _from_openapi30(out) if self.legacy else out

    def _referenced(self, node: Mapping[str, Any], seen: tuple[str, ...], depth: int) -> object:
        ref = node["$ref"]
        if ref in seen:
            raise _Unconvertible(f"$ref {ref[:80]!r} is recursive")
        resolved = self._schema(self._target(ref), (*seen, ref), depth + 1)
        siblings = {key: value for key, value in node.items() if key != "$ref"}
        if not siblings:
            return resolved
        extra = cast(dict[str, object], self._schema(siblings, seen, depth + 1))
        if isinstance(resolved, dict) and set(siblings) <= _ANNOTATIONS:
            return {**resolved, **extra}
        return {"allOf": [resolved], **extra}

    # scope

    def _scope(self, operation: Mapping[str, Any], kind: Kind) -> str:
        rule = self.rules[kind]
        if isinstance(rule, str):
            return rule
        upstream = self._oauth_scopes(operation)
        if not upstream:
            raise _Unconvertible("the operation declares no OAuth scope to map to a Deputy scope")
        try:
            mapped = {rule(scope) for scope in upstream}
        except (KeyError, ValueError) as exc:
            raise _Unconvertible(f"no Deputy scope for upstream scope {str(exc)[:80]}") from None
        if len(mapped) != 1:
            raise _Unconvertible(f"its scopes {sorted(upstream)} map to several Deputy scopes")
        return mapped.pop()

    def _oauth_scopes(self, operation: Mapping[str, Any]) -> list[str]:
        """The scopes of the first security requirement that names an OAuth 2.0 / OpenID Connect scheme."""
        requirements = operation.get("security", self.doc.get("security", []))
        components = self.doc.get("components")
        schemes = components.get("securitySchemes", {}) if isinstance(components, Mapping) else {}
        for requirement in requirements if isinstance(requirements, list) else ():
            if not isinstance(requirement, Mapping):
                continue
            scopes = [
                str(scope)
                for name, listed in requirement.items()
                if _is_oauth(schemes.get(name))
                for scope in (listed if isinstance(listed, list) else ())
            ]
            if scopes:
                return scopes
        return []


def _is_oauth(scheme: object) -> bool:
    return isinstance(scheme, Mapping) and scheme.get("type") in ("oauth2", "openIdConnect")


def _check_style(param: Mapping[str, Any]) -> None:
    """Only the default serialisations: form/explode for the query (repeated keys), simple for the path."""
    default = "form" if param["in"] == "query" else "simple"
    if param.get("style", default) != default or param.get("explode", default == "form") is not (default == "form"):
        raise _Unconvertible(f"parameter {param['name']!r} uses a serialisation style tools do not support")


def _json_media(content: object) -> Mapping[str, Any] | None:
    if not isinstance(content, Mapping):
        return None
    for media_type, media in content.items():
        essence = str(media_type).split(";", 1)[0].strip().lower()
        if (essence == "application/json" or essence.endswith("+json")) and isinstance(media, Mapping):
            return media
    return None


def _merge_body(body: Mapping[str, Any], properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    """Put the body's properties beside the parameters; returns the top-level keywords that follow from the body.

    ``readOnly`` properties are left out (OpenAPI: not sent in requests). A body's ``min``/``maxProperties`` is
    shifted by the number of parameters when every parameter is required (then it is exact); otherwise it is
    dropped and left to the upstream to enforce.
    """
    fixed, all_required = len(properties), len(required) == len(properties)
    listed = body.get("properties", {})
    if not isinstance(listed, Mapping):
        raise _Unconvertible("the request body's properties is not an object")
    kept = [name for name, schema in listed.items() if not (isinstance(schema, Mapping) and schema.get("readOnly"))]
    for name in kept:
        if name in properties:
            raise _Unconvertible(f"body property {name!r} has the same name as a parameter")
        properties[name] = listed[name]
    body_required = body.get("required", [])
    required += [name for name in body_required if name in kept] if isinstance(body_required, list) else []
    extra: dict[str, Any] = {}
    if body.get("additionalProperties", True) is not True:
        extra["additionalProperties"] = body["additionalProperties"]
    for bound in ("minProperties", "maxProperties"):
        if all_required and isinstance(body.get(bound), int):
            extra[bound] = body[bound] + fixed
    return extra


def _texts(operation: Mapping[str, Any], method: str, path: str) -> tuple[str | None, str]:
    summary, description = operation.get("summary"), operation.get("description")
    title = " ".join(summary.split())[:200] if isinstance(summary, str) and summary.strip() else None
    if isinstance(description, str) and description.strip():
        return title, description.strip()
    return title, title or f"{method.upper()} {path}"


def _from_openapi30(schema: dict[str, object]) -> dict[str, object]:
    """OpenAPI 3.0's ``nullable`` and boolean ``exclusiveMinimum``/``Maximum``, in JSON Schema 2020-12 terms."""
    if schema.pop("nullable", False) is True:
        declared = schema.get("type")
        if isinstance(declared, str):
            schema["type"] = [declared, "null"]
        enum = schema.get("enum")
        if isinstance(enum, list) and None not in enum:
            enum.append(None)
    for flag, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        value = schema.get(flag)
        if isinstance(value, bool):
            del schema[flag]
            if value and bound in schema:
                schema[flag] = schema.pop(bound)
    return schema
