"""The OpenAPI document: complete, valid JSON Schema, and true to what the server actually accepts and returns."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from acme_flow import ISSUER, Tokens, obtain_tokens
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from referencing import Registry
from referencing.jsonschema import DRAFT202012
from starlette.applications import Starlette

pytestmark = pytest.mark.anyio

OPERATION_IDS = {
    f"{resource}_{verb}"
    for resource in ("contacts", "deals", "notes")
    for verb in ("list", "search", "get", "create", "update")
}
DOC_URI = "urn:acme-openapi"


@pytest.fixture
async def document(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    doc: dict[str, Any] = json.loads(response.text)
    return doc


@pytest.fixture
async def alice(app: Starlette) -> Tokens:
    return await obtain_tokens(app)


def _operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def _absolute(schema: Any) -> Any:
    """Point local ``#/...`` references into the registered document, where they resolve as in the original."""
    if isinstance(schema, dict):
        return {k: (f"{DOC_URI}{v}" if k == "$ref" else _absolute(v)) for k, v in schema.items()}
    if isinstance(schema, list):
        return [_absolute(item) for item in schema]
    return schema


def _check(doc: dict[str, Any], schema: dict[str, Any], instance: Any) -> None:
    registry: Registry[Any] = Registry().with_resource(DOC_URI, DRAFT202012.create_resource(doc))
    Draft202012Validator(_absolute(schema), registry=registry).validate(instance)


def _response_schema(doc: dict[str, Any], path: str, method: str, status: str) -> dict[str, Any]:
    response = doc["paths"][path][method]["responses"][status]
    schema: dict[str, Any] = response["content"]["application/json"]["schema"]
    return schema


async def test_document_is_openapi_31_with_all_operations(document: dict[str, Any]) -> None:
    assert document["openapi"] == "3.1.0"
    assert document["servers"] == [{"url": f"{ISSUER}/api/v1"}]
    assert sorted(document["paths"])[:3] == ["/contacts", "/contacts/search", "/contacts/{id}"]
    ids = [operation["operationId"] for _, _, operation in _operations(document)]
    assert len(ids) == 15 and set(ids) == OPERATION_IDS


async def test_every_schema_is_valid_json_schema(document: dict[str, Any]) -> None:
    schemas = list(document["components"]["schemas"].values())
    for _, _, operation in _operations(document):
        schemas += [parameter["schema"] for parameter in operation.get("parameters", [])]
        if "requestBody" in operation:
            schemas.append(operation["requestBody"]["content"]["application/json"]["schema"])
    for schema in schemas:
        Draft202012Validator.check_schema(schema)


async def test_every_reference_resolves(document: dict[str, Any]) -> None:
    def refs(node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            for key, value in node.items():
                yield from ([value] if key == "$ref" else refs(value))
        elif isinstance(node, list):
            for item in node:
                yield from refs(item)

    found = list(refs(document))
    assert found
    for ref in found:
        node: Any = document
        for part in ref.removeprefix("#/").split("/"):
            node = node[part]
        assert isinstance(node, dict)


async def test_security_scheme_and_scopes(document: dict[str, Any]) -> None:
    scheme = document["components"]["securitySchemes"]["acme_oauth"]
    flow = scheme["flows"]["authorizationCode"]
    assert scheme["type"] == "oauth2"
    assert flow["authorizationUrl"] == f"{ISSUER}/authorize" and flow["tokenUrl"] == f"{ISSUER}/token"
    assert set(flow["scopes"]) >= {"contacts:read", "contacts:write", "deals:read", "notes:write"}
    for _, method, operation in _operations(document):
        resource, verb = operation["operationId"].split("_")
        expected = f"{resource}:{'write' if verb in ('create', 'update') else 'read'}"
        assert operation["security"] == [{"acme_oauth": [expected]}]
        assert method == {"list": "get", "search": "get", "get": "get", "create": "post", "update": "patch"}[verb]


async def test_request_bodies_are_precise_and_inline(document: dict[str, Any]) -> None:
    create = document["paths"]["/deals"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert "$ref" not in json.dumps(create)
    assert create["required"] == ["title", "amount"] and create["additionalProperties"] is False
    assert create["properties"]["stage"]["enum"] == ["lead", "qualified", "won", "lost"]
    assert create["properties"]["amount"]["type"] == "number"
    assert create["properties"]["contact_id"]["type"] == ["string", "null"]
    update = document["paths"]["/deals/{id}"]["patch"]["requestBody"]["content"]["application/json"]["schema"]
    assert "required" not in update and update["minProperties"] == 1
    for _, _, operation in _operations(document):
        body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
        for prop in (body or {}).get("properties", {}).values():
            if "string" in prop["type"]:
                assert "enum" in prop or (prop["maxLength"] > 0 and prop["minLength"] == 1 and prop["pattern"])


async def test_parameters_are_described(document: dict[str, Any]) -> None:
    search = document["paths"]["/notes/search"]["get"]["parameters"]
    assert [(p["name"], p["in"], p["required"]) for p in search] == [
        ("q", "query", True),
        ("limit", "query", False),
        ("cursor", "query", False),
    ]
    limit = search[1]["schema"]
    assert (limit["type"], limit["minimum"], limit["maximum"], limit["default"]) == ("integer", 1, 100, 20)
    get = document["paths"]["/contacts/{id}"]["get"]["parameters"]
    assert get[0]["name"] == "id" and get[0]["in"] == "path" and get[0]["required"] is True


async def test_documented_operations_exist(document: dict[str, Any], client: httpx.AsyncClient, alice: Tokens) -> None:
    ids = {}
    for resource in ("contacts", "deals", "notes"):
        listing = await client.get(f"/api/v1/{resource}", headers=alice.headers)
        ids[resource] = listing.json()["items"][0]["id"]
    for path, method, _ in _operations(document):
        resource = path.split("/")[1]
        url = "/api/v1" + path.replace("{id}", ids[resource])
        response = await client.request(method.upper(), url, headers=alice.headers, params={"q": "a"}, json={})
        assert response.status_code not in (404, 405), (method, path)


async def test_live_responses_match_the_documented_schemas(
    document: dict[str, Any], client: httpx.AsyncClient, alice: Tokens
) -> None:
    payloads = {
        "contacts": {"name": "Schema Check", "email": "s@example.com"},
        "deals": {"title": "Schema deal", "amount": 10},
        "notes": {"body": "Schema note"},
    }
    for resource, payload in payloads.items():
        base = f"/{resource}"
        url = f"/api/v1{base}"
        create_schema = document["paths"][base]["post"]["requestBody"]["content"]["application/json"]["schema"]
        Draft202012Validator(create_schema).validate(payload)
        created = await client.post(url, json=payload, headers=alice.headers)
        _check(document, _response_schema(document, base, "post", "201"), created.json())
        fetched = await client.get(f"{url}/{created.json()['id']}", headers=alice.headers)
        _check(document, _response_schema(document, f"{base}/{{id}}", "get", "200"), fetched.json())
        listing = await client.get(url, params={"limit": 2}, headers=alice.headers)
        _check(document, _response_schema(document, base, "get", "200"), listing.json())
        found = await client.get(f"{url}/search", params={"q": "schema"}, headers=alice.headers)
        _check(document, _response_schema(document, f"{base}/search", "get", "200"), found.json())


async def test_error_responses_match_the_error_schema(
    document: dict[str, Any], client: httpx.AsyncClient, alice: Tokens
) -> None:
    error_schema = {"$ref": "#/components/schemas/Error"}
    bad = await client.post("/api/v1/contacts", json={"name": 1}, headers=alice.headers)
    unauthorized = await client.get("/api/v1/contacts")
    missing = await client.get("/api/v1/contacts/con_1", headers=alice.headers)
    for response in (bad, unauthorized, missing):
        _check(document, error_schema, response.json())


async def test_schema_rejections_are_server_rejections(
    document: dict[str, Any], client: httpx.AsyncClient, alice: Tokens
) -> None:
    """Payloads the document forbids must also be refused by the server (the reverse may not hold)."""
    create = document["paths"]["/contacts"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    validator = Draft202012Validator(create)
    rejected = [
        {},
        {"name": ""},
        {"name": "   "},
        {"name": "x" * 201},
        {"name": "A", "email": "nope"},
        {"name": "A", "phone": " "},
        {"name": "A", "x": 1},
    ]
    for payload in rejected:
        assert not validator.is_valid(payload)
        response = await client.post("/api/v1/contacts", json=payload, headers=alice.headers)
        assert response.status_code == 422, payload
