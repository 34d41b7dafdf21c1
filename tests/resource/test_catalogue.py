"""The tool catalogue: validation of every field, the TOML round trip, and the OpenAPI importer (on Acme CRM)."""

from __future__ import annotations

import copy as copy_module
import dataclasses
import json
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deputy.demo.acme import default_settings
from deputy.demo.acme.openapi import openapi_document
from deputy.errors import ConfigError
from deputy.resource.catalogue import (
    Catalogue,
    ToolSpec,
    catalogue_from_openapi,
    dump_catalogue,
    load_catalogue,
    parse_catalogue,
    tool_name,
)

SHIPPED = Path(__file__).parents[2] / "src" / "deputy" / "demo" / "acme_tools.toml"
ACME_NAMES = [
    f"{resource}_{verb}"
    for resource in ("contacts", "deals", "notes")
    for verb in ("list", "search", "get", "create", "update")
]

ID_SCHEMA = {"type": "string", "maxLength": 64}


def acme_doc() -> dict[str, Any]:
    return openapi_document(default_settings("https://acme.example", "https://deputy.example/callback"))


def tool_table(**overrides: Any) -> dict[str, Any]:
    table: dict[str, Any] = {
        "title": "Get a thing",
        "description": "Get one thing by id.",
        "method": "GET",
        "path": "/things/{id}",
        "scope": "crm.read",
        "kind": "read",
        "body": "none",
        "input_schema": json.dumps(
            {"type": "object", "properties": {"id": ID_SCHEMA}, "required": ["id"], "additionalProperties": False}
        ),
    }
    table.update(overrides)
    return {key: value for key, value in table.items() if value is not None}


def schema_with(**overrides: Any) -> str:
    schema: dict[str, Any] = {"type": "object", "properties": {"id": ID_SCHEMA}, "required": ["id"]}
    schema.update(overrides)
    return json.dumps(schema)


def parse_one(table: dict[str, Any], name: str = "t") -> Catalogue:
    return parse_catalogue({"version": 1, "tools": {name: table}})


def spec(**overrides: Any) -> ToolSpec:
    fields: dict[str, Any] = {
        "name": "things_get",
        "title": None,
        "description": "Get a thing.",
        "method": "GET",
        "path": "/things/{id}",
        "scope": "crm.read",
        "kind": "read",
        "body": "none",
        "input_schema": {"type": "object", "properties": {"id": ID_SCHEMA}, "required": ["id"]},
    }
    fields.update(overrides)
    return ToolSpec(**fields)


# --- parsing ----------------------------------------------------------------------------------------------------


def test_a_valid_table_parses() -> None:
    tool = parse_one(tool_table()).get("t")
    assert tool is not None
    assert (tool.method, tool.path, tool.scope, tool.kind, tool.body) == (
        "GET",
        "/things/{id}",
        "crm.read",
        "read",
        "none",
    )
    assert tool.placeholders == ("id",)


@pytest.mark.parametrize(
    ("table", "field"),
    [
        (tool_table(colour="red"), "colour"),
        (tool_table(description=None), "description"),
        (tool_table(method=None), "method"),
        (tool_table(path=None), "path"),
        (tool_table(scope=None), "scope"),
        (tool_table(kind=None), "kind"),
        (tool_table(input_schema=None), "input_schema"),
        (tool_table(method="FETCH"), "method"),
        (tool_table(method="get"), "method"),
        (tool_table(kind="maybe"), "kind"),
        (tool_table(body="xml"), "body"),
        (tool_table(body="json"), "body"),  # a GET cannot carry a JSON body
        (
            tool_table(body="none", input_schema=schema_with(properties={"id": ID_SCHEMA, "q": {"type": "string"}})),
            "body",
        ),
        (tool_table(scope="crm.read crm.write"), "scope"),
        (tool_table(scope=""), "scope"),
        (tool_table(title=""), "title"),
        (tool_table(title="two\nlines"), "title"),
        (tool_table(title=5), "title"),
        (tool_table(description="   "), "description"),
        (tool_table(description="bell\x07"), "description"),
        (tool_table(path="things/{id}"), "path"),
        (tool_table(path="/things/../{id}"), "path"),
        (tool_table(path="/things/{id}?x=1"), "path"),
        (tool_table(path="/things/{id}#f"), "path"),
        (tool_table(path="/things/%2e/{id}"), "path"),
        (tool_table(path="/things/{id}/{id}"), "path"),
        (tool_table(path="/things/{id}/{other}"), "path"),  # not a declared property
        (tool_table(input_schema=schema_with(required=[])), "path"),  # placeholder not required
        (tool_table(input_schema=schema_with(properties={"id": {"type": "object"}})), "path"),
        (tool_table(input_schema=schema_with(properties={"id": {"type": ["string", "null"]}})), "path"),
        (tool_table(input_schema=schema_with(properties={"id": {}})), "path"),
        (tool_table(input_schema="{not json"), "input_schema"),
        (tool_table(input_schema='{"type": "object", "minimum": NaN}'), "input_schema"),
        (tool_table(input_schema="[1, 2]"), "input_schema"),
        (tool_table(input_schema=5), "input_schema"),
        (tool_table(input_schema=schema_with(type="array")), "input_schema"),
        (tool_table(input_schema=schema_with(minProperties="one")), "input_schema"),
        (tool_table(input_schema=schema_with(properties={"id": {"type": "string", "pattern": "("}})), "input_schema"),
        (
            tool_table(input_schema=schema_with(**{"$schema": "http://json-schema.org/draft-07/schema#"})),
            "input_schema",
        ),
        (
            tool_table(input_schema=schema_with(properties={"id": {"$ref": "https://evil.example/s.json"}})),
            "input_schema",
        ),
        (tool_table(input_schema=schema_with(properties={"id": {"$ref": "#/$defs/missing"}})), "input_schema"),
        (
            tool_table(input_schema=schema_with(properties={"id": {"$id": "https://x.example/id", "type": "string"}})),
            "input_schema",
        ),
        (tool_table(input_schema=schema_with(allOf=[{"$dynamicRef": "https://evil.example/s"}])), "input_schema"),
    ],
)
def test_each_problem_names_the_tool_and_field(table: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_one(table)
    assert str(caught.value).startswith(f"tools.t.{field}:")


@pytest.mark.parametrize("name", ["Things", "1things", "things-get", "t" * 65, "_x", ""])
def test_tool_names_follow_the_mcp_rule(name: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_one(tool_table(), name=name)
    assert str(caught.value).startswith(f"tools.{name[:64]}:")


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"tools": {}}, "version"),
        ({"version": 2, "tools": {}}, "version"),
        ({"version": True, "tools": {}}, "version"),
        ({"version": 1, "tools": []}, "tools"),
        ({"version": 1, "tools": {"t": "GET /x"}}, "tools.t"),
        ({"version": 1, "extra": 1}, "extra"),
    ],
)
def test_document_level_problems_are_named(data: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_catalogue(data)
    assert str(caught.value).startswith(f"{field}:")


def test_duplicate_names_are_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        Catalogue((spec(), spec()))
    assert str(caught.value).startswith("tools.things_get:")


def test_body_defaults_follow_the_method() -> None:
    schema = schema_with(properties={"id": ID_SCHEMA, "q": {"type": "string"}})
    get = parse_one(tool_table(body=None, input_schema=schema)).get("t")
    delete = parse_one(tool_table(body=None, method="DELETE", kind="write", input_schema=schema)).get("t")
    post = parse_one(tool_table(body=None, method="POST", kind="write", input_schema=schema)).get("t")
    assert get is not None and delete is not None and post is not None
    assert (get.body, delete.body, post.body) == ("query", "query", "json")


def test_input_schema_may_be_a_toml_table() -> None:
    schema = {"type": "object", "properties": {"id": ID_SCHEMA}, "required": ["id"]}
    tool = parse_one(tool_table(input_schema=schema)).get("t")
    assert tool is not None and tool.input_schema == schema


def test_local_references_are_allowed() -> None:
    tool = spec(
        input_schema={
            "type": "object",
            "properties": {"id": {"$ref": "#/$defs/id"}, "x": {"$ref": "#"}},
            "required": ["id"],
            "$defs": {"id": {"type": "string"}},
        },
        body="query",
    )
    assert tool.placeholders == ("id",)


def test_load_catalogue_reports_unreadable_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_catalogue(tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("version = \n", encoding="utf-8")
    with pytest.raises(ConfigError):
        load_catalogue(broken)
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigError):
        load_catalogue(binary)


# --- immutability and lookups ---------------------------------------------------------------------------------


def test_schemas_are_deep_frozen_but_serialisable() -> None:
    source: dict[str, Any] = {
        "type": "object",
        "properties": {"id": dict(ID_SCHEMA), "tags": {"type": "array", "items": {"enum": ["a", "b"]}}},
        "required": ["id"],
    }
    tool = spec(input_schema=source, body="query")
    source["properties"]["id"]["maxLength"] = 10_000  # the caller's dict is not the spec's
    properties = tool.input_schema["properties"]
    assert isinstance(properties, dict)
    with pytest.raises(TypeError):
        properties["evil"] = {}  # type: ignore[index]
    with pytest.raises(TypeError):
        properties["id"].update(maxLength=1)
    with pytest.raises(TypeError):
        tool.input_schema.pop("required")  # type: ignore[attr-defined]
    with pytest.raises(dataclasses.FrozenInstanceError):
        tool.scope = "crm.write"  # type: ignore[misc]
    assert json.loads(json.dumps(tool.input_schema))["properties"]["id"]["maxLength"] == 64
    copy = tool.input_schema_dict()
    copy["properties"]["id"]["maxLength"] = 1  # type: ignore[index]
    assert tool.input_schema_dict()["properties"]["id"]["maxLength"] == 64  # type: ignore[index]
    assert copy_module.deepcopy(tool) == tool
    assert hash(tool) == hash(spec(input_schema=tool.input_schema_dict(), body="query"))


def test_catalogue_lookups() -> None:
    catalogue = load_catalogue(SHIPPED)
    assert catalogue.get("contacts_get") is catalogue.tools[[t.name for t in catalogue.tools].index("contacts_get")]
    assert catalogue.get("nope") is None
    assert {t.name for t in catalogue.read_tools()} == {
        n for n in ACME_NAMES if n.split("_")[1] in ("list", "search", "get")
    }
    assert {t.name for t in catalogue.write_tools()} == {
        n for n in ACME_NAMES if n.split("_")[1] in ("create", "update")
    }


# --- TOML round trip ------------------------------------------------------------------------------------------


def test_dump_escapes_what_toml_strings_cannot_hold() -> None:
    awkward = "quote \" backslash \\ tab \t newline \n bell \x07 del \x7f triple ''' and '''' end'"
    tool = spec(
        title='A "title" with \\ and é',
        description="Line one\nline two ''' with \\n literally",
        input_schema={
            "type": "object",
            "properties": {"id": {**ID_SCHEMA, "description": awkward, "examples": ["\ud800 lone surrogate", "'''"]}},
            "required": ["id"],
        },
    )
    catalogue = Catalogue((tool,))
    text = dump_catalogue(catalogue)
    assert parse_catalogue(tomllib.loads(text)) == catalogue


def test_an_empty_catalogue_round_trips() -> None:
    assert parse_catalogue(tomllib.loads(dump_catalogue(Catalogue()))) == Catalogue()


_NAMES = st.from_regex(r"[a-z][a-z0-9_]{0,12}", fullmatch=True)
_ODD = st.sampled_from(["'''", "''", "'", '"', "\\", "\\u0027", "\x7f", "\x00", "\n", "\ud800", "é", "\u2028", "}"])
_ANY_TEXT = st.lists(st.text(max_size=8) | _ODD, max_size=5).map("".join)
_LINE = st.text(st.characters(exclude_categories=("Cs", "Cc")), min_size=1, max_size=30).filter(str.strip)
_PROSE = (
    st.lists(_LINE | st.sampled_from(["\n", "\t", "'''", '"', "\\"]), min_size=1, max_size=4)
    .map("".join)
    .filter(str.strip)
)
_SCALAR = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | _ANY_TEXT


@st.composite
def _property(draw: st.DrawFn) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": draw(st.sampled_from(["string", "integer", "number", "boolean", "array"]))}
    if draw(st.booleans()):
        schema["description"] = draw(_ANY_TEXT)
    if draw(st.booleans()):
        schema["enum"] = draw(st.lists(_SCALAR, min_size=1, max_size=4))
    if schema["type"] == "array":
        schema["items"] = {"type": "string", "default": draw(_ANY_TEXT)}
    return schema


@st.composite
def tool_specs(draw: st.DrawFn, name: str) -> ToolSpec:
    properties = draw(st.dictionaries(_NAMES, _property(), max_size=4))
    segments = draw(
        st.lists(
            st.from_regex(r"[a-z0-9_~-]{1,6}", fullmatch=True)
            | st.sampled_from(["{" + p + "}" for p in sorted(properties)] or ["x"]),
            min_size=1,
            max_size=4,
            unique=True,
        )
    )
    placeholders = [s[1:-1] for s in segments if s.startswith("{")]
    for placeholder in placeholders:
        properties[placeholder] = {"type": draw(st.sampled_from(["string", "integer", ["string", "integer"]]))}
    method = draw(st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE"]))
    extra = set(properties) - set(placeholders)
    bodies = ["query"] + (["json"] if method != "GET" else []) + ([] if extra else ["none"])
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    required = sorted(set(placeholders) | set(draw(st.lists(st.sampled_from(sorted(properties) or ["-"])))) - {"-"})
    if required:
        schema["required"] = required
    if draw(st.booleans()):
        schema["additionalProperties"] = False
    return ToolSpec(
        name=name,
        title=draw(st.none() | _LINE),
        description=draw(_PROSE),
        method=method,
        path="/" + "/".join(segments),
        input_schema=schema,
        scope=draw(st.from_regex(r"[a-z]{1,8}(:[a-z]{1,8})?", fullmatch=True)),
        kind=draw(st.sampled_from(["read", "write"])),
        body=draw(st.sampled_from(bodies)),
    )


@st.composite
def catalogues(draw: st.DrawFn) -> Catalogue:
    names = draw(st.lists(_NAMES, max_size=4, unique=True))
    return Catalogue(tuple(draw(tool_specs(name)) for name in names))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(catalogues())
def test_dump_then_load_gives_an_equal_catalogue(catalogue: Catalogue) -> None:
    assert parse_catalogue(tomllib.loads(dump_catalogue(catalogue))) == catalogue


# --- OpenAPI import -------------------------------------------------------------------------------------------


def test_acme_document_imports_to_fifteen_tools() -> None:
    catalogue, skipped = catalogue_from_openapi(acme_doc(), read_scope="crm.read", write_scope="crm.write")
    assert skipped == ()
    assert sorted(t.name for t in catalogue.tools) == sorted(ACME_NAMES)
    expected = {
        "list": ("GET", "", "read", "query"),
        "search": ("GET", "/search", "read", "query"),
        "get": ("GET", "/{id}", "read", "none"),
        "create": ("POST", "", "write", "json"),
        "update": ("PATCH", "/{id}", "write", "json"),
    }
    for tool in catalogue.tools:
        resource, verb = tool.name.split("_")
        method, suffix, kind, body = expected[verb]
        assert (tool.method, tool.path, tool.kind, tool.body) == (method, f"/{resource}{suffix}", kind, body)
        assert tool.scope == ("crm.read" if kind == "read" else "crm.write")
        assert tool.title and tool.description


def test_acme_update_schema_merges_path_and_body() -> None:
    catalogue, _ = catalogue_from_openapi(acme_doc(), read_scope="crm.read", write_scope="crm.write")
    update = catalogue.get("deals_update")
    assert update is not None
    schema = update.input_schema_dict()
    assert list(schema["properties"]) == ["id", "title", "amount", "stage", "contact_id"]  # type: ignore[call-overload]
    assert schema["required"] == ["id"]
    assert schema["additionalProperties"] is False
    assert schema["minProperties"] == 2  # the body's "at least one field", shifted by the required id
    create = catalogue.get("deals_create")
    assert create is not None and create.input_schema["required"] == ("title", "amount")


def test_acme_upstream_scopes_can_be_mapped_by_function() -> None:
    catalogue, skipped = catalogue_from_openapi(acme_doc(), read_scope=lambda s: s, write_scope=str.upper)
    assert skipped == ()
    get, create = catalogue.get("notes_get"), catalogue.get("notes_create")
    assert get is not None and create is not None
    assert (get.scope, create.scope) == ("notes:read", "NOTES:WRITE")


def test_shipped_acme_catalogue_matches_the_importer() -> None:
    """The shipped file may differ from the importer only in descriptions, so the two cannot drift apart."""
    shipped = load_catalogue(SHIPPED)
    imported, _ = catalogue_from_openapi(acme_doc(), read_scope="crm.read", write_scope="crm.write")
    assert [t.name for t in shipped.tools] == [t.name for t in imported.tools]
    assert sorted(t.name for t in shipped.tools) == sorted(ACME_NAMES)
    for ours, theirs in zip(shipped.tools, imported.tools, strict=True):
        assert dataclasses.replace(ours, description=theirs.description) == theirs


def _doc(paths: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"openapi": "3.1.0", "info": {"title": "t", "version": "1"}, "paths": paths, **extra}


def _op(opid: str | None = "op", **extra: Any) -> dict[str, Any]:
    op: dict[str, Any] = {"responses": {"200": {"description": "ok"}}, **extra}
    if opid is not None:
        op["operationId"] = opid
    return op


_ID_PARAM = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}


def test_importer_resolves_local_refs_and_merges_parameters() -> None:
    doc = _doc(
        {
            "/users/{id}": {
                "parameters": [{"$ref": "#/components/parameters/Id"}],
                "put": _op(
                    "replaceUser", requestBody={"$ref": "#/components/requestBodies/User"}, summary="Replace a user"
                ),
            }
        },
        components={
            "parameters": {"Id": _ID_PARAM},
            "requestBodies": {
                "User": {
                    "required": True,
                    "content": {"application/json; charset=utf-8": {"schema": {"$ref": "#/components/schemas/User"}}},
                }
            },
            "schemas": {
                "User": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {
                        "name": {"$ref": "#/components/schemas/Name", "description": "Display name."},
                        "id": {"type": "string", "readOnly": True},
                    },
                },
                "Name": {"type": "string", "maxLength": 50},
            },
        },
    )
    catalogue, skipped = catalogue_from_openapi(doc, read_scope="r", write_scope="w")
    assert skipped == ()
    tool = catalogue.get("replace_user")
    assert tool is not None
    assert tool.input_schema_dict() == {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "name": {"type": "string", "maxLength": 50, "description": "Display name."},
        },
        "required": ["id", "name"],
    }
    assert (tool.method, tool.path, tool.kind, tool.scope, tool.body, tool.title) == (
        "PUT",
        "/users/{id}",
        "write",
        "w",
        "json",
        "Replace a user",
    )


@pytest.mark.parametrize(
    ("paths", "components"),
    [
        ({"/a": {"get": _op(None)}}, {}),
        ({"/a": {"head": _op("headA")}}, {}),
        ({"/a": {"$ref": "#/components/pathItems/A"}}, {}),
        (
            {
                "/a": {
                    "get": _op(
                        parameters=[{"name": "X-Key", "in": "header", "required": True, "schema": {"type": "string"}}]
                    )
                }
            },
            {},
        ),
        ({"/a": {"get": _op(parameters=[{"name": "q", "in": "query", "content": {"application/json": {}}}])}}, {}),
        ({"/a": {"get": _op(parameters=[{"name": "f", "in": "query", "schema": {"type": "object"}}])}}, {}),
        (
            {
                "/a": {
                    "get": _op(
                        parameters=[{"name": "f", "in": "query", "style": "deepObject", "schema": {"type": "string"}}]
                    )
                }
            },
            {},
        ),
        ({"/a": {"get": _op(parameters=[{"$ref": "https://evil.example/p.json"}])}}, {}),
        (
            {
                "/a": {
                    "post": _op(
                        requestBody={
                            "content": {"application/json": {"schema": {"$ref": "https://evil.example/s.json"}}}
                        }
                    )
                }
            },
            {},
        ),
        (
            {
                "/a": {
                    "post": _op(
                        requestBody={"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Loop"}}}}
                    )
                }
            },
            {"schemas": {"Loop": {"type": "object", "properties": {"next": {"$ref": "#/components/schemas/Loop"}}}}},
        ),
        ({"/a": {"post": _op(requestBody={"content": {"text/plain": {"schema": {"type": "string"}}}})}}, {}),
        ({"/a": {"post": _op(requestBody={"content": {"application/json": {"schema": {"type": "array"}}}})}}, {}),
        (
            {
                "/a": {
                    "post": _op(
                        requestBody={
                            "content": {
                                "application/json": {
                                    "schema": {"type": "object", "oneOf": [{"required": ["a"]}, {"required": ["b"]}]}
                                }
                            }
                        }
                    )
                }
            },
            {},
        ),
        (
            {
                "/a": {
                    "post": _op(
                        parameters=[{"name": "q", "in": "query", "schema": {"type": "string"}}],
                        requestBody={"content": {"application/json": {"schema": {"type": "object"}}}},
                    )
                }
            },
            {},
        ),
        (
            {
                "/a/{id}": {
                    "post": _op(
                        parameters=[_ID_PARAM],
                        requestBody={
                            "content": {
                                "application/json": {
                                    "schema": {"type": "object", "properties": {"id": {"type": "string"}}}
                                }
                            }
                        },
                    )
                }
            },
            {},
        ),
        ({"/a/{id}": {"get": _op()}}, {}),  # placeholder without a parameter
        ({"/a": {"get": _op("!!!")}}, {}),
    ],
)
def test_importer_skips_what_it_cannot_express(paths: dict[str, Any], components: dict[str, Any]) -> None:
    catalogue, skipped = catalogue_from_openapi(_doc(paths, components=components), read_scope="r", write_scope="w")
    assert catalogue.tools == ()
    assert len(skipped) == 1 and skipped[0].reason


def test_importer_skips_a_second_operation_with_the_same_tool_name() -> None:
    doc = _doc({"/a": {"get": _op("listThings")}, "/b": {"get": _op("list_things")}})
    catalogue, skipped = catalogue_from_openapi(doc, read_scope="r", write_scope="w")
    assert [t.name for t in catalogue.tools] == ["list_things"]
    assert [(s.method, s.path, s.operation_id) for s in skipped] == [("GET", "/b", "list_things")]


def test_scope_functions_need_declared_scopes_that_map_to_one_deputy_scope() -> None:
    schemes = {"securitySchemes": {"o": {"type": "oauth2", "flows": {}}, "k": {"type": "apiKey"}}}
    doc = _doc(
        {
            "/none": {"get": _op("noScopes")},
            "/key": {"get": _op("keyOnly", security=[{"k": []}])},
            "/two": {"get": _op("twoScopes", security=[{"o": ["a:read", "b:read"]}])},
            "/one": {"get": _op("oneScope", security=[{"k": []}, {"o": ["a:read"]}])},
            "/global": {"get": _op("globalScope")},
        },
        components=schemes,
    )
    doc["paths"]["/none"]["get"]["security"] = []
    doc["security"] = [{"o": ["g:read"]}]
    catalogue, skipped = catalogue_from_openapi(doc, read_scope=lambda s: s.split(":")[0], write_scope="w")
    assert {t.name: t.scope for t in catalogue.tools} == {"one_scope": "a", "global_scope": "g"}
    assert sorted(s.operation_id or "" for s in skipped) == ["keyOnly", "noScopes", "twoScopes"]


def test_openapi_30_nullable_and_exclusive_bounds_become_2020_12() -> None:
    doc = _doc(
        {
            "/a": {
                "get": _op(
                    parameters=[
                        {
                            "name": "n",
                            "in": "query",
                            "schema": {
                                "type": "integer",
                                "nullable": True,
                                "minimum": 0,
                                "exclusiveMinimum": True,
                                "maximum": 9,
                                "exclusiveMaximum": False,
                            },
                        },
                        {"name": "e", "in": "query", "schema": {"type": "string", "enum": ["x"], "nullable": True}},
                    ]
                )
            }
        }
    )
    doc["openapi"] = "3.0.3"
    catalogue, skipped = catalogue_from_openapi(doc, read_scope="r", write_scope="w")
    assert skipped == ()
    tool = catalogue.get("op")
    assert tool is not None
    assert tool.input_schema_dict()["properties"] == {
        "n": {"type": ["integer", "null"], "exclusiveMinimum": 0, "maximum": 9},
        "e": {"type": ["string", "null"], "enum": ["x", None]},
    }


@pytest.mark.parametrize("doc", [{}, {"openapi": "2.0", "paths": {}}, {"swagger": "2.0"}, {"openapi": "3.1.0"}])
def test_a_document_that_is_not_openapi_3_is_a_config_error(doc: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        catalogue_from_openapi(doc, read_scope="r", write_scope="w")


@pytest.mark.parametrize(
    ("operation_id", "name"),
    [
        ("getContactById", "get_contact_by_id"),
        ("getHTTPResponse", "get_http_response"),
        ("contacts_list", "contacts_list"),
        ("List Things!", "list_things"),
        ("2fa-verify", "op_2fa_verify"),
        ("a" * 80, "a" * 64),
    ],
)
def test_operation_ids_are_normalised_to_tool_names(operation_id: str, name: str) -> None:
    assert tool_name(operation_id) == name
