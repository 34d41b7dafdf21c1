"""The Acme CRM REST API under /api/v1.

Every handler resolves the caller from the access token first and then only ever touches that user's
records, so a foreign id behaves exactly like a missing one (404, no existence oracle).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import NoReturn

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .bearer import require_token
from .context import AcmeContext
from .errors import AcmeHTTPError
from .pagination import ParameterError, decode_cursor, encode_cursor, parse_limit
from .records import Page, Record, Scalar
from .resources import RESOURCES, FieldError, ResourceSpec, ValidationFailed, validate_create, validate_update

API_PREFIX = "/api/v1"
MAX_QUERY_LENGTH = 200

Validator = Callable[[ResourceSpec, object], dict[str, Scalar]]


def api_routes(ctx: AcmeContext) -> list[Route]:
    return [route for spec in RESOURCES for route in ResourceEndpoints(ctx, spec).routes()]


class ResourceEndpoints:
    def __init__(self, ctx: AcmeContext, spec: ResourceSpec) -> None:
        self._ctx = ctx
        self._spec = spec
        self._records = ctx.store.records

    def routes(self) -> list[Route]:
        base = f"{API_PREFIX}/{self._spec.name}"
        return [
            Route(base, self.list, methods=["GET"]),
            Route(base, self.create, methods=["POST"]),
            Route(f"{base}/search", self.search, methods=["GET"]),
            Route(f"{base}/{{record_id}}", self.get, methods=["GET"]),
            Route(f"{base}/{{record_id}}", self.update, methods=["PATCH"]),
        ]

    async def list(self, request: Request) -> Response:
        owner = self._caller(request, self._spec.read_scope)
        return self._page(self._page_of(request, owner, None))

    async def search(self, request: Request) -> Response:
        owner = self._caller(request, self._spec.read_scope)
        query = request.query_params.get("q", "")
        if not query.strip() or len(query) > MAX_QUERY_LENGTH:
            _invalid([FieldError("q", f"must be 1 to {MAX_QUERY_LENGTH} characters")])
        return self._page(self._page_of(request, owner, query.casefold()))

    async def get(self, request: Request) -> Response:
        owner = self._caller(request, self._spec.read_scope)
        record = self._records.get(self._spec.name, owner, request.path_params["record_id"])
        return JSONResponse(self._found(record).to_json())

    async def create(self, request: Request) -> Response:
        owner = self._caller(request, self._spec.write_scope)
        fields = self._validated(owner, validate_create, await _json_body(request))
        record = self._records.create(self._spec.name, owner, fields)
        location = f"{self._ctx.settings.issuer}{API_PREFIX}/{self._spec.name}/{record.id}"
        return JSONResponse(record.to_json(), status_code=201, headers={"Location": location})

    async def update(self, request: Request) -> Response:
        owner = self._caller(request, self._spec.write_scope)
        record_id = request.path_params["record_id"]
        self._found(self._records.get(self._spec.name, owner, record_id))
        changes = self._validated(owner, validate_update, await _json_body(request))
        return JSONResponse(self._found(self._records.update(self._spec.name, owner, record_id, changes)).to_json())

    # --- helpers ----------------------------------------------------------------------------------------------

    def _caller(self, request: Request, scope: str) -> str:
        self._ctx.stats.bump("api_calls")
        return require_token(request, self._ctx.store, scope).user_id

    def _page_of(self, request: Request, owner: str, query: str | None) -> Page:
        try:
            limit = parse_limit(request.query_params.get("limit"))
            after = decode_cursor(self._spec.name, request.query_params.get("cursor"))
        except ParameterError as exc:
            _invalid([FieldError(exc.name, exc.message)])
        matches = None if query is None else (lambda record: self._matches(record, query))
        return self._records.page(self._spec.name, owner, after, limit, matches)

    def _matches(self, record: Record, query: str) -> bool:
        texts = (record.fields.get(field.name) for field in self._spec.fields if field.searchable)
        return any(isinstance(text, str) and query in text.casefold() for text in texts)

    def _page(self, page: Page) -> Response:
        cursor = encode_cursor(self._spec.name, page.next_after) if page.next_after is not None else None
        return JSONResponse({"items": [record.to_json() for record in page.items], "next_cursor": cursor})

    def _found(self, record: Record | None) -> Record:
        if record is None:
            raise AcmeHTTPError(404, "not_found", f"no such {self._spec.title.lower()}")
        return record

    def _validated(self, owner: str, validate: Validator, payload: object) -> dict[str, Scalar]:
        try:
            fields = validate(self._spec, payload)
        except ValidationFailed as exc:
            _invalid(exc.errors)
        self._check_references(owner, fields)
        return fields

    def _check_references(self, owner: str, fields: dict[str, Scalar]) -> None:
        """A reference to another user's record is reported exactly like one to a record that does not exist."""
        errors = [
            FieldError(f.name, f"does not refer to one of your {f.reference}")
            for f in self._spec.fields
            if f.reference
            and isinstance(value := fields.get(f.name), str)
            and self._records.get(f.reference, owner, value) is None
        ]
        if errors:
            _invalid(errors)


def _invalid(errors: list[FieldError]) -> NoReturn:
    summary = "; ".join(f"{e.field or 'body'}: {e.message}" for e in errors[:10])
    raise AcmeHTTPError(422, "validation_failed", summary, extra={"errors": [e.to_json() for e in errors[:50]]})


async def _json_body(request: Request) -> object:
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise AcmeHTTPError(415, "unsupported_media_type", "the request body must be application/json")
    try:
        return json.loads(await request.body(), parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise AcmeHTTPError(400, "invalid_request", "the request body is not valid JSON") from exc


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not valid JSON")
