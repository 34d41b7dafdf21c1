"""Arguments to upstream requests: schema validation with safe messages, path encoding, query rendering."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from deputy.resource.catalogue import Catalogue, ToolSpec, load_catalogue
from deputy.resource.requests import ToolArgumentError, UpstreamRequest, build_request, validate_arguments

ACME = load_catalogue(Path(__file__).parents[2] / "src" / "deputy" / "demo" / "acme_tools.toml")


def acme(name: str) -> ToolSpec:
    tool = ACME.get(name)
    assert tool is not None
    return tool


def tool(path: str = "/items/{id}", body: Any = "query", method: Any = "GET", **properties: Any) -> ToolSpec:
    placeholders = [part[1:-1] for part in path.split("/") if part.startswith("{")]
    props = {name: {"type": "string"} for name in placeholders} | properties
    return ToolSpec(
        name="items",
        title=None,
        description="Items.",
        method=method,
        path=path,
        input_schema={"type": "object", "properties": props, "required": placeholders},
        scope="s",
        kind="read" if method == "GET" else "write",
        body=body,
    )


# --- validation -----------------------------------------------------------------------------------------------


def test_valid_arguments_come_back_as_a_new_dict() -> None:
    arguments = {"title": "Renewal", "amount": 1200.5, "stage": "won"}
    values = validate_arguments(acme("deals_create"), arguments)
    assert values == arguments and values is not arguments


def test_absent_arguments_are_an_empty_object() -> None:
    assert validate_arguments(acme("contacts_list"), None) == {}


@pytest.mark.parametrize(
    ("name", "arguments"),
    [
        ("contacts_list", []),
        ("contacts_list", "limit=5"),
        ("contacts_list", {"limit": "5"}),  # type
        ("contacts_list", {"limit": True}),  # a boolean is not an integer
        ("contacts_list", {"limit": 0}),  # minimum
        ("contacts_list", {"limit": 2.5}),
        ("contacts_search", {}),  # required
        ("contacts_search", {"q": "x" * 201}),  # maxLength
        ("contacts_search", {"q": ""}),  # minLength
        ("deals_create", {"title": "T", "amount": 1, "stage": "maybe"}),  # enum
        ("deals_create", {"title": "T", "amount": -1}),
        ("contacts_create", {"name": "Ann", "email": "not-an-email"}),  # pattern
        ("contacts_create", {"name": "Ann", "owner_id": "u-2"}),  # additionalProperties: false
        ("contacts_update", {"id": "con_1001"}),  # minProperties: at least one field besides the id
        ("contacts_get", {"id": "con_1001", "extra": 1}),
        ("contacts_list", {"limit": float("nan")}),
        ("contacts_list", {"limit": float("inf")}),
        ("contacts_list", {1: 2}),
        ("contacts_list", {"cursor": object()}),
    ],
)
def test_invalid_arguments_are_refused(name: str, arguments: Any) -> None:
    with pytest.raises(ToolArgumentError):
        validate_arguments(acme(name), arguments)


def test_unknown_arguments_pass_unless_the_schema_forbids_them() -> None:
    loose = tool(q={"type": "string"})
    assert validate_arguments(loose, {"id": "1", "other": True}) == {"id": "1", "other": True}


def test_deeply_nested_arguments_are_refused_without_recursing_forever() -> None:
    nested: Any = "leaf"
    for _ in range(5000):
        nested = [nested]
    with pytest.raises(ToolArgumentError):
        validate_arguments(tool(), {"id": "1", "deep": nested})


@pytest.mark.parametrize(
    ("name", "arguments"),
    [
        ("contacts_search", {"q": "S3CRET" * 10_000}),
        ("contacts_create", {"name": "Ann", "S3CRET" * 1000: 1}),
        ("contacts_create", {"name": "Ann", "email": "S3CRET" * 50}),
        ("deals_create", {"title": "T", "amount": 1, "stage": "S3CRET"}),
        ("contacts_list", {"cursor": ["S3CRET"]}),
    ],
)
def test_messages_are_short_and_never_echo_the_value(name: str, arguments: dict[str, Any]) -> None:
    with pytest.raises(ToolArgumentError) as caught:
        validate_arguments(acme(name), arguments)
    assert len(caught.value.message) <= 300 and str(caught.value) == caught.value.message
    assert "S3CRET" not in caught.value.message


# --- building -------------------------------------------------------------------------------------------------


def test_json_body_tools_send_every_non_path_argument_as_json() -> None:
    arguments = {"id": "con_1001", "email": "ann@example.com", "phone": None}
    request = build_request(acme("contacts_update"), arguments)
    assert request == UpstreamRequest(
        "PATCH", "/contacts/con_1001", (), {"email": "ann@example.com", "phone": None}, scope="crm.write"
    )
    assert build_request(acme("notes_create"), {"body": "Hi"}) == UpstreamRequest(
        "POST", "/notes", json={"body": "Hi"}, scope="crm.write"
    )


def test_the_request_does_not_share_the_caller_s_objects() -> None:
    arguments: dict[str, Any] = {"title": "T", "amount": 1}
    request = build_request(acme("deals_create"), arguments)
    arguments["amount"] = 10**6
    assert request.json == {"title": "T", "amount": 1}


def test_query_tools_render_arguments_as_query_pairs() -> None:
    request = build_request(acme("contacts_search"), {"q": "Ann & Bob", "limit": 5})
    assert request == UpstreamRequest(
        "GET", "/contacts/search", (("q", "Ann & Bob"), ("limit", "5")), None, scope="crm.read"
    )


def test_query_values_render_sensibly() -> None:
    t = tool(
        path="/items",
        flag={"type": "boolean"},
        off={"type": "boolean"},
        n={"type": "integer"},
        x={"type": "number"},
        whole={"type": "number"},
        tags={"type": "array"},
        gone={"type": ["string", "null"]},
    )
    request = build_request(
        t, {"flag": True, "off": False, "n": -3, "x": 2.5, "whole": 5.0, "tags": ["a", 1, False], "gone": None}
    )
    assert request.query == (
        ("flag", "true"),
        ("off", "false"),
        ("n", "-3"),
        ("x", "2.5"),
        ("whole", "5"),
        ("tags", "a"),
        ("tags", "1"),
        ("tags", "false"),
    )
    assert build_request(t, {"x": 1e300}).query == (("x", "1e+300"),)


@pytest.mark.parametrize("value", [{"a": 1}, [{"a": 1}], [[1]], [None]])
def test_nested_values_never_reach_a_query(value: object) -> None:
    with pytest.raises(ToolArgumentError):
        build_request(tool(path="/items"), {"filter": value})


@pytest.mark.parametrize(
    ("value", "path"),
    [
        ("../x", "/items/..%2Fx"),
        ("a/b", "/items/a%2Fb"),
        ("café ☕", "/items/caf%C3%A9%20%E2%98%95"),
        ("?q=1#frag", "/items/%3Fq%3D1%23frag"),
        ("%2e%2e", "/items/%252e%252e"),
        ("..", None),
        (".", None),
        ("", None),
        ("a..b", "/items/a..b"),
        ("~user_1-x.y", "/items/~user_1-x.y"),
    ],
)
def test_path_values_are_encoded_as_one_segment(value: str, path: str | None) -> None:
    if path is None:
        with pytest.raises(ToolArgumentError):
            build_request(tool(), {"id": value})
    else:
        assert build_request(tool(), {"id": value}).path == path


def test_integer_path_values_and_several_placeholders() -> None:
    t = tool(path="/orgs/{org}/items/{n}", n={"type": "integer"})
    assert build_request(t, {"org": "acme", "n": 42}).path == "/orgs/acme/items/42"
    with pytest.raises(ToolArgumentError):
        build_request(t, {"org": "acme", "n": True})


def test_a_body_none_tool_refuses_any_other_argument() -> None:
    t = tool(body="none")
    assert build_request(t, {"id": "7"}) == UpstreamRequest("GET", "/items/7", scope="s")
    with pytest.raises(ToolArgumentError):
        build_request(t, {"id": "7", "sneaky": "x"})


def test_every_acme_tool_builds_a_request() -> None:
    samples: dict[str, dict[str, Any]] = {
        "list": {"limit": 2},
        "search": {"q": "a"},
        "get": {"id": "con_1001"},
        "create": {"name": "N", "title": "T", "amount": 1, "body": "B"},
        "update": {"id": "con_1001", "title": "T", "name": "N", "body": "B"},
    }
    for spec in Catalogue(ACME.tools).tools:
        verb = spec.name.split("_")[1]
        allowed = spec.input_schema["properties"]
        assert isinstance(allowed, dict)
        arguments = {k: v for k, v in samples[verb].items() if k in allowed}
        request = build_request(spec, arguments)
        assert request.method == spec.method and request.path.startswith("/" + spec.name.split("_")[0])
