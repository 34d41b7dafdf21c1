"""The OpenAPI 3.1 description of the REST API, generated from the same declarations the server validates with.

Request bodies and parameters are written inline in each operation (no ``$ref``) because the document is
imported to build MCP tool input schemas, and an importer should not have to resolve references to learn what
a tool accepts. Responses refer to shared component schemas.

The server URL carries the ``/api/v1`` prefix and paths are relative to it (``/contacts``), so the API base URL
a client is configured with and the document's server URL are the same string.
"""

from __future__ import annotations

from typing import Any

from .api import API_PREFIX, MAX_QUERY_LENGTH
from .pagination import DEFAULT_LIMIT, MAX_CURSOR_LENGTH, MAX_LIMIT
from .resources import ID_PATTERN, NOT_BLANK_PATTERN, RESOURCES, FieldSpec, ResourceSpec
from .scopes import SCOPE_DESCRIPTIONS
from .settings import AcmeSettings

Schema = dict[str, Any]

SECURITY_SCHEME = "acme_oauth"

_ERROR_RESPONSES = {
    "400": ("BadRequest", "The request is malformed."),
    "401": ("Unauthorized", "The access token is missing, invalid or expired."),
    "403": ("Forbidden", "The access token lacks the required scope."),
    "404": ("NotFound", "No such record among the caller's records."),
    "413": ("TooLarge", "The request body exceeds 64 KiB."),
    "415": ("UnsupportedMediaType", "The request body is not application/json."),
    "422": ("ValidationFailed", "A parameter or body field is invalid; see errors."),
}


def openapi_document(settings: AcmeSettings) -> Schema:
    paths: Schema = {}
    for spec in RESOURCES:
        paths.update(_resource_paths(spec))
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Acme CRM API",
            "version": "1.0.0",
            "description": "Contacts, deals and notes of the signed-in Acme CRM user.",
        },
        "servers": [{"url": f"{settings.issuer}{API_PREFIX}"}],
        "paths": paths,
        "components": {
            "schemas": _component_schemas(),
            "responses": {name: _error_response(text) for name, text in _ERROR_RESPONSES.values()},
            "securitySchemes": {SECURITY_SCHEME: _security_scheme(settings)},
        },
    }


def _resource_paths(spec: ResourceSpec) -> Schema:
    base = f"/{spec.name}"
    return {
        base: {"get": _list_operation(spec), "post": _create_operation(spec)},
        f"{base}/search": {"get": _search_operation(spec)},
        f"{base}/{{id}}": {"get": _get_operation(spec), "patch": _update_operation(spec)},
    }


def _list_operation(spec: ResourceSpec) -> Schema:
    summary = f"List your {spec.name}, oldest first"
    return _operation(spec, "list", summary, spec.read_scope, [_LIMIT, _CURSOR], ("200", f"{spec.title}List"))


def _search_operation(spec: ResourceSpec) -> Schema:
    fields = ", ".join(f.name for f in spec.fields if f.searchable)
    summary = f"Search your {spec.name} by case-insensitive substring of {fields}"
    params = [_query_param(), _LIMIT, _CURSOR]
    return _operation(spec, "search", summary, spec.read_scope, params, ("200", f"{spec.title}List"))


def _get_operation(spec: ResourceSpec) -> Schema:
    summary = f"Get one of your {spec.name} by id"
    return _operation(spec, "get", summary, spec.read_scope, [_id_param(spec)], ("200", spec.title))


def _create_operation(spec: ResourceSpec) -> Schema:
    operation = _operation(spec, "create", f"Create a {spec.title.lower()}", spec.write_scope, [], ("201", spec.title))
    operation["requestBody"] = _json_body(_create_schema(spec))
    return operation


def _update_operation(spec: ResourceSpec) -> Schema:
    summary = f"Change fields of one of your {spec.name}; omitted fields keep their value"
    operation = _operation(spec, "update", summary, spec.write_scope, [_id_param(spec)], ("200", spec.title))
    operation["requestBody"] = _json_body(_update_schema(spec))
    return operation


def _operation(
    spec: ResourceSpec, verb: str, summary: str, scope: str, parameters: list[Schema], success: tuple[str, str]
) -> Schema:
    status, schema_name = success
    errors = ["400", "401", "403", "413", "415", "422"] if verb in ("create", "update") else ["401", "403", "422"]
    if verb in ("get", "update"):
        errors.append("404")
    responses: Schema = {status: _json_content(f"The {schema_name}.", _ref(schema_name))}
    responses.update({code: {"$ref": f"#/components/responses/{_ERROR_RESPONSES[code][0]}"} for code in sorted(errors)})
    operation: Schema = {
        "operationId": f"{spec.name}_{verb}",
        "summary": summary,
        "description": f"{summary}. {spec.description} Requires the `{scope}` scope.",
        "tags": [spec.name],
        "security": [{SECURITY_SCHEME: [scope]}],
        "responses": responses,
    }
    if parameters:
        operation["parameters"] = parameters
    return operation


# --- schemas --------------------------------------------------------------------------------------------------


def _field_schema(field: FieldSpec) -> Schema:
    schema: Schema = {"type": [field.kind, "null"] if field.nullable else field.kind, "description": field.description}
    if field.kind == "string":
        schema["minLength"] = 1
        if field.pattern is None and field.enum is None:
            schema["pattern"] = NOT_BLANK_PATTERN
    optional = {
        "maxLength": field.max_length,
        "pattern": field.pattern,
        "format": field.format,
        "enum": list(field.enum) if field.enum else None,
        "minimum": field.minimum,
        "maximum": field.maximum,
        "default": field.default,
    }
    schema.update({key: value for key, value in optional.items() if value is not None})
    return schema


def _create_schema(spec: ResourceSpec) -> Schema:
    return {
        "type": "object",
        "properties": {field.name: _field_schema(field) for field in spec.fields},
        "required": [field.name for field in spec.fields if field.required],
        "additionalProperties": False,
    }


def _update_schema(spec: ResourceSpec) -> Schema:
    return {
        "type": "object",
        "properties": {field.name: _field_schema(field) for field in spec.fields},
        "minProperties": 1,
        "additionalProperties": False,
    }


def _record_schema(spec: ResourceSpec) -> Schema:
    properties: Schema = {
        "id": {"type": "string", "pattern": ID_PATTERN, "description": "Identifier.", "readOnly": True}
    }
    for field in spec.fields:
        output = {key: value for key, value in _field_schema(field).items() if key in ("type", "description", "enum")}
        properties[field.name] = output
    for stamp in ("created_at", "updated_at"):
        properties[stamp] = {"type": "string", "format": "date-time", "readOnly": True}
    return {
        "type": "object",
        "description": spec.description,
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def _list_schema(spec: ResourceSpec) -> Schema:
    return {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": _ref(spec.title)},
            "next_cursor": {
                "type": ["string", "null"],
                "description": "Pass as `cursor` to get the next page; null on the last page.",
            },
        },
        "required": ["items", "next_cursor"],
        "additionalProperties": False,
    }


def _component_schemas() -> Schema:
    schemas: Schema = {"Error": _ERROR_SCHEMA}
    for spec in RESOURCES:
        schemas[spec.title] = _record_schema(spec)
        schemas[f"{spec.title}List"] = _list_schema(spec)
    return schemas


_ERROR_SCHEMA: Schema = {
    "type": "object",
    "properties": {
        "error": {"type": "string", "description": "Machine-readable error code."},
        "error_description": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
                "required": ["field", "message"],
            },
        },
    },
    "required": ["error"],
}


# --- parameters and wrappers ----------------------------------------------------------------------------------

_LIMIT: Schema = {
    "name": "limit",
    "in": "query",
    "required": False,
    "description": "Maximum number of items to return.",
    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
}

_CURSOR: Schema = {
    "name": "cursor",
    "in": "query",
    "required": False,
    "description": "The next_cursor of the previous page.",
    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_CURSOR_LENGTH},
}


def _query_param() -> Schema:
    return {
        "name": "q",
        "in": "query",
        "required": True,
        "description": "Text to look for (case-insensitive substring).",
        "schema": {"type": "string", "minLength": 1, "maxLength": MAX_QUERY_LENGTH},
    }


def _id_param(spec: ResourceSpec) -> Schema:
    return {
        "name": "id",
        "in": "path",
        "required": True,
        "description": f"Identifier of the {spec.title.lower()}.",
        "schema": {"type": "string", "pattern": ID_PATTERN, "maxLength": 64},
    }


def _json_body(schema: Schema) -> Schema:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _json_content(description: str, schema: Schema) -> Schema:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error_response(description: str) -> Schema:
    return _json_content(description, _ref("Error"))


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _security_scheme(settings: AcmeSettings) -> Schema:
    flow = {
        "authorizationUrl": settings.endpoint("/authorize"),
        "tokenUrl": settings.endpoint("/token"),
        "refreshUrl": settings.endpoint("/token"),
        "scopes": dict(SCOPE_DESCRIPTIONS),
    }
    return {"type": "oauth2", "description": "Acme CRM OAuth 2.0", "flows": {"authorizationCode": flow}}
