"""The intent hash: the same operation always hashes the same, whatever the spelling; any change changes it."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deputy.intents.canonical import IntentSubject, canonical_json

BASE = IntentSubject(
    tool="contacts_create",
    arguments={"name": "Zoë Example", "email": "zoe@example.com", "tags": ["a", "b"], "amount": 5},
    user_id="usr_1",
    client_id="dcl_1",
    method="POST",
    base_url="https://api.example/v1",
    path="/contacts",
)


def _with(arguments: dict[str, Any]) -> str:
    return replace(BASE, arguments=arguments).intent_hash()


def test_key_order_and_escape_spelling_do_not_change_the_hash() -> None:
    reordered = json.loads('{"amount": 5, "tags": ["a", "b"], "email": "zoe@example.com", "name": "Zo\\u00eb Example"}')
    assert _with(reordered) == BASE.intent_hash()
    assert _with({**BASE.arguments, "amount": 5.0}) == BASE.intent_hash()  # one number, as JSON Schema sees it


@pytest.mark.parametrize(
    "changed",
    [
        {"name": "Zoë Examplé"},
        {"name": "Zoe\u0308 Example"},  # NFD: looks the same, different code points, different operation
        {"name": "Zoë Example "},
        {"email": "zoe@example.org"},
        {"tags": ["b", "a"]},  # array order is data
        {"tags": ["a", "b", "c"]},
        {"amount": 6},
        {"amount": "5"},
        {"amount": True},
        {"amount": None},
        {"extra": None},
    ],
)
def test_any_argument_change_changes_the_hash(changed: dict[str, Any]) -> None:
    assert _with({**BASE.arguments, **changed}) != BASE.intent_hash()


def test_a_missing_argument_differs_from_a_null_one() -> None:
    without = {k: v for k, v in BASE.arguments.items() if k != "amount"}
    assert _with(without) != _with({**without, "amount": None})


@pytest.mark.parametrize(
    "field",
    [
        {"tool": "contacts_update"},
        {"user_id": "usr_2"},
        {"client_id": "dcl_2"},
        {"method": "PUT"},
        {"base_url": "https://evil.example/v1"},
        {"path": "/contacts/con_1"},
    ],
)
def test_who_asked_and_where_it_goes_are_part_of_the_intent(field: dict[str, str]) -> None:
    assert replace(BASE, **field).intent_hash() != BASE.intent_hash()  # type: ignore[arg-type]


def test_canonical_json_is_compact_sorted_utf8() -> None:
    assert canonical_json({"b": [1.0, 2.5], "a": "é"}) == '{"a":"é","b":[1,2.5]}'
    for bad in ({1: "x"}, {"x": float("nan")}, {"x": object()}):
        with pytest.raises(ValueError):
            canonical_json(bad)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@given(st.dictionaries(st.text(max_size=8), _json, max_size=6))
def test_a_round_trip_through_any_json_spelling_keeps_the_hash(arguments: dict[str, Any]) -> None:
    for spelled in (json.dumps(arguments), json.dumps(arguments, ensure_ascii=False, indent=3, sort_keys=True)):
        assert _with(json.loads(spelled)) == _with(arguments)
