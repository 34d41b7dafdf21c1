"""The shape of each CRM resource, declared once.

Request validation and the OpenAPI document are both derived from these declarations, so the schema a
client generates tools from is exactly what the server enforces.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

from .records import Scalar

EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
PHONE_PATTERN = r"^[0-9+(). -]*[0-9][0-9+(). -]*$"
NOT_BLANK_PATTERN = r"\S"
ID_PATTERN = r"^[a-z]+_[0-9]+$"
STAGES = ("lead", "qualified", "won", "lost")


@dataclass(frozen=True)
class FieldSpec:
    """One writable field. ``required`` applies to create; ``nullable`` fields may be cleared with null."""

    name: str
    kind: Literal["string", "number"]
    description: str
    required: bool = False
    nullable: bool = False
    max_length: int | None = None
    pattern: str | None = None
    format: str | None = None
    enum: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    default: Scalar = None
    reference: str | None = None
    searchable: bool = False


@dataclass(frozen=True)
class ResourceSpec:
    name: str
    title: str
    description: str
    fields: tuple[FieldSpec, ...]

    @property
    def read_scope(self) -> str:
        return f"{self.name}:read"

    @property
    def write_scope(self) -> str:
        return f"{self.name}:write"

    def field(self, name: str) -> FieldSpec | None:
        return next((spec for spec in self.fields if spec.name == name), None)


def _contact_ref(description: str) -> FieldSpec:
    return FieldSpec(
        "contact_id", "string", description, nullable=True, max_length=64, pattern=ID_PATTERN, reference="contacts"
    )


CONTACTS = ResourceSpec(
    "contacts",
    "Contact",
    "A person the user does business with.",
    (
        FieldSpec("name", "string", "Full name.", required=True, max_length=200, searchable=True),
        FieldSpec(
            "email",
            "string",
            "Email address.",
            nullable=True,
            max_length=254,
            pattern=EMAIL_PATTERN,
            format="email",
            searchable=True,
        ),
        FieldSpec(
            "company", "string", "Company the contact works for.", nullable=True, max_length=200, searchable=True
        ),
        FieldSpec(
            "phone", "string", "Phone number.", nullable=True, max_length=40, pattern=PHONE_PATTERN, searchable=True
        ),
    ),
)

DEALS = ResourceSpec(
    "deals",
    "Deal",
    "A sales opportunity, optionally linked to a contact.",
    (
        FieldSpec("title", "string", "Short name of the deal.", required=True, max_length=200, searchable=True),
        FieldSpec(
            "amount", "number", "Value of the deal in US dollars.", required=True, minimum=0, maximum=1_000_000_000
        ),
        FieldSpec("stage", "string", "Pipeline stage.", enum=STAGES, default="lead", searchable=True),
        _contact_ref("The contact this deal is with."),
    ),
)

NOTES = ResourceSpec(
    "notes",
    "Note",
    "Free-text note, optionally about a contact.",
    (
        FieldSpec("body", "string", "Text of the note.", required=True, max_length=5000, searchable=True),
        _contact_ref("The contact this note is about."),
    ),
)

RESOURCES: tuple[ResourceSpec, ...] = (CONTACTS, DEALS, NOTES)


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


class ValidationFailed(Exception):
    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{error.field}: {error.message}" for error in errors))
        self.errors = errors


def validate_create(spec: ResourceSpec, payload: object) -> dict[str, Scalar]:
    body = _object(spec, payload)
    errors = [FieldError(f.name, "is required") for f in spec.fields if f.required and f.name not in body]
    errors += _field_errors(spec, body)
    if errors:
        raise ValidationFailed(errors)
    return {f.name: body.get(f.name, f.default) for f in spec.fields}


def validate_update(spec: ResourceSpec, payload: object) -> dict[str, Scalar]:
    body = _object(spec, payload)
    errors = _field_errors(spec, body)
    if not body and not errors:
        errors.append(FieldError("", "at least one field must be given"))
    if errors:
        raise ValidationFailed(errors)
    return dict(body)


def _object(spec: ResourceSpec, payload: object) -> dict[str, Scalar]:
    if not isinstance(payload, dict):
        raise ValidationFailed([FieldError("", "the request body must be a JSON object")])
    unknown = [FieldError(str(key)[:64], "unknown field") for key in payload if spec.field(str(key)) is None]
    if unknown:
        raise ValidationFailed(unknown)
    return payload


def _field_errors(spec: ResourceSpec, body: dict[str, Scalar]) -> list[FieldError]:
    errors = []
    for name, value in body.items():
        field = spec.field(name)
        message = _check(field, value) if field is not None else "unknown field"
        if message is not None:
            errors.append(FieldError(name, message))
    return errors


def _check(field: FieldSpec, value: object) -> str | None:
    if value is None:
        return None if field.nullable else "must not be null"
    if field.kind == "number":
        return _check_number(field, value)
    return _check_string(field, value)


def _check_number(field: FieldSpec, value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return "must be a number"
    if field.minimum is not None and value < field.minimum:
        return f"must be at least {field.minimum:g}"
    if field.maximum is not None and value > field.maximum:
        return f"must be at most {field.maximum:g}"
    return None


def _check_string(field: FieldSpec, value: object) -> str | None:
    if not isinstance(value, str):
        return "must be a string"
    if not value.strip():
        return "must not be blank"
    if field.max_length is not None and len(value) > field.max_length:
        return f"must be at most {field.max_length} characters"
    if field.enum is not None and value not in field.enum:
        return f"must be one of: {', '.join(field.enum)}"
    if field.pattern is not None and re.fullmatch(field.pattern, value) is None:
        return "has an invalid format" if field.format is None else f"must be a valid {field.format}"
    return None
