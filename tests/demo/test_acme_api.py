"""The Acme CRM REST API: authentication, scopes, per-user isolation, validation, pagination and search."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from acme_flow import ALICE, ALL_SCOPES, BOB, ISSUER, Tokens, obtain_tokens
from starlette.applications import Starlette

from deputy.clock import FrozenClock
from deputy.demo.acme import AcmeStats, AcmeStore
from deputy.demo.acme.seed import PROMPT_INJECTION

pytestmark = pytest.mark.anyio

RESOURCES = ("contacts", "deals", "notes")
VALID: dict[str, dict[str, Any]] = {
    "contacts": {"name": "Zoe Quinn", "email": "zoe@example.com", "company": "Q Corp", "phone": "+44 20 7946 0000"},
    "deals": {"title": "Q Corp deal", "amount": 1234.5, "stage": "qualified"},
    "notes": {"body": "Met Zoe at the fair."},
}


@pytest.fixture
async def alice(app: Starlette) -> Tokens:
    return await obtain_tokens(app, ALICE)


@pytest.fixture
async def bob(app: Starlette) -> Tokens:
    return await obtain_tokens(app, BOB)


async def _items(client: httpx.AsyncClient, tokens: Tokens, path: str) -> list[dict[str, Any]]:
    response = await client.get(path, headers=tokens.headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


# --- authentication and scopes -----------------------------------------------------------------------------------


@pytest.mark.parametrize("resource", RESOURCES)
async def test_listing_needs_a_token(client: httpx.AsyncClient, resource: str) -> None:
    response = await client.get(f"/api/v1/{resource}")
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    assert response.headers["www-authenticate"].startswith("Bearer ")


async def test_forged_and_expired_tokens_are_401(
    client: httpx.AsyncClient, alice: Tokens, clock: FrozenClock, stats: AcmeStats
) -> None:
    forged = await client.get("/api/v1/contacts", headers={"Authorization": "Bearer acme_at_forged"})
    assert forged.status_code == 401
    clock.advance(3600)
    expired = await client.get("/api/v1/contacts", headers=alice.headers)
    assert expired.status_code == 401 and 'error="invalid_token"' in expired.headers["www-authenticate"]
    assert stats.api_calls == 2


@pytest.mark.parametrize("resource", RESOURCES)
async def test_reading_needs_the_read_scope(app: Starlette, client: httpx.AsyncClient, resource: str) -> None:
    others = " ".join(s for s in ALL_SCOPES.split() if s != f"{resource}:read")
    tokens = await obtain_tokens(app, scope=others)
    for path in (f"/api/v1/{resource}", f"/api/v1/{resource}/search?q=a", f"/api/v1/{resource}/x_1"):
        response = await client.get(path, headers=tokens.headers)
        assert response.status_code == 403, path
        assert response.json()["error"] == "insufficient_scope"
        challenge = response.headers["www-authenticate"]
        assert 'error="insufficient_scope"' in challenge and f'scope="{resource}:read"' in challenge


@pytest.mark.parametrize("resource", RESOURCES)
async def test_writing_needs_the_write_scope(app: Starlette, client: httpx.AsyncClient, resource: str) -> None:
    tokens = await obtain_tokens(app, scope=f"{resource}:read")
    created = await client.post(f"/api/v1/{resource}", json=VALID[resource], headers=tokens.headers)
    assert created.status_code == 403 and created.json()["error"] == "insufficient_scope"
    record_id = (await _items(client, tokens, f"/api/v1/{resource}"))[0]["id"]
    patched = await client.patch(f"/api/v1/{resource}/{record_id}", json=VALID[resource], headers=tokens.headers)
    assert patched.status_code == 403


async def test_write_scope_does_not_imply_read(app: Starlette, client: httpx.AsyncClient) -> None:
    tokens = await obtain_tokens(app, scope="contacts:write")
    assert (await client.post("/api/v1/contacts", json=VALID["contacts"], headers=tokens.headers)).status_code == 201
    assert (await client.get("/api/v1/contacts", headers=tokens.headers)).status_code == 403


async def test_revoked_user_loses_api_access(client: httpx.AsyncClient, alice: Tokens, store: AcmeStore) -> None:
    assert store.revoke_user_grants("acme-u-1001") == 1
    assert (await client.get("/api/v1/contacts", headers=alice.headers)).status_code == 401


# --- seeded data and isolation -----------------------------------------------------------------------------------


async def test_seeded_data_belongs_to_each_user(client: httpx.AsyncClient, alice: Tokens, bob: Tokens) -> None:
    alice_names = {c["name"] for c in await _items(client, alice, "/api/v1/contacts")}
    bob_names = {c["name"] for c in await _items(client, bob, "/api/v1/contacts")}
    assert "Carol Chen" in alice_names and "Frank Moreau" in bob_names
    assert not alice_names & bob_names
    for tokens in (alice, bob):
        for resource in RESOURCES:
            assert await _items(client, tokens, f"/api/v1/{resource}")


async def test_alice_has_a_note_with_a_prompt_injection(client: httpx.AsyncClient, alice: Tokens) -> None:
    notes = await _items(client, alice, "/api/v1/notes")
    injected = [note for note in notes if PROMPT_INJECTION in note["body"]]
    assert len(injected) == 1
    assert "IGNORE PREVIOUS INSTRUCTIONS" in injected[0]["body"] and "mallory@evil.example" in injected[0]["body"]
    contact = await client.get(f"/api/v1/contacts/{injected[0]['contact_id']}", headers=alice.headers)
    assert contact.json()["name"] == "Dave Patel"


@pytest.mark.parametrize("resource", RESOURCES)
async def test_other_users_records_look_missing(
    client: httpx.AsyncClient, alice: Tokens, bob: Tokens, resource: str
) -> None:
    record = (await _items(client, alice, f"/api/v1/{resource}"))[0]
    path = f"/api/v1/{resource}/{record['id']}"
    assert (await client.get(path, headers=alice.headers)).status_code == 200
    stolen = await client.get(path, headers=bob.headers)
    assert stolen.status_code == 404 and stolen.json()["error"] == "not_found"
    changed = await client.patch(path, json=VALID[resource], headers=bob.headers)
    assert changed.status_code == 404
    assert (await client.get(path, headers=alice.headers)).json() == record


async def test_cannot_link_to_another_users_contact(client: httpx.AsyncClient, alice: Tokens, bob: Tokens) -> None:
    alice_contact = (await _items(client, alice, "/api/v1/contacts"))[0]["id"]
    deal = {**VALID["deals"], "contact_id": alice_contact}
    response = await client.post("/api/v1/deals", json=deal, headers=bob.headers)
    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "contact_id", "message": "does not refer to one of your contacts"}]
    assert (await client.post("/api/v1/deals", json=deal, headers=alice.headers)).status_code == 201


async def test_created_records_are_private(client: httpx.AsyncClient, alice: Tokens, bob: Tokens) -> None:
    created = (await client.post("/api/v1/contacts", json=VALID["contacts"], headers=alice.headers)).json()
    assert created["id"] in {c["id"] for c in await _items(client, alice, "/api/v1/contacts")}
    assert created["id"] not in {c["id"] for c in await _items(client, bob, "/api/v1/contacts")}
    assert await _items(client, bob, "/api/v1/contacts/search?q=zoe") == []


# --- create, get, update -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("resource", RESOURCES)
async def test_create_then_get(client: httpx.AsyncClient, alice: Tokens, resource: str) -> None:
    response = await client.post(f"/api/v1/{resource}", json=VALID[resource], headers=alice.headers)
    assert response.status_code == 201
    created = response.json()
    assert response.headers["location"] == f"{ISSUER}/api/v1/{resource}/{created['id']}"
    assert {key: created[key] for key in VALID[resource]} == VALID[resource]
    assert created["created_at"] == created["updated_at"]
    fetched = await client.get(f"/api/v1/{resource}/{created['id']}", headers=alice.headers)
    assert fetched.json() == created


async def test_create_fills_defaults_and_nulls(client: httpx.AsyncClient, alice: Tokens) -> None:
    deal = (await client.post("/api/v1/deals", json={"title": "Tiny", "amount": 0}, headers=alice.headers)).json()
    assert deal["stage"] == "lead" and deal["contact_id"] is None
    contact = (await client.post("/api/v1/contacts", json={"name": "Solo"}, headers=alice.headers)).json()
    assert contact["email"] is None and contact["company"] is None and contact["phone"] is None


async def test_update_changes_only_given_fields(client: httpx.AsyncClient, alice: Tokens, clock: FrozenClock) -> None:
    created = (await client.post("/api/v1/contacts", json=VALID["contacts"], headers=alice.headers)).json()
    clock.advance(90)
    path = f"/api/v1/contacts/{created['id']}"
    response = await client.patch(path, json={"company": "New Co", "phone": None}, headers=alice.headers)
    assert response.status_code == 200
    updated = response.json()
    assert updated == {**created, "company": "New Co", "phone": None, "updated_at": updated["updated_at"]}
    assert updated["updated_at"] > created["updated_at"] and updated["created_at"] == created["created_at"]
    assert (await client.get(path, headers=alice.headers)).json() == updated


async def test_deal_stage_can_move(client: httpx.AsyncClient, alice: Tokens) -> None:
    deal = (await _items(client, alice, "/api/v1/deals"))[0]
    response = await client.patch(f"/api/v1/deals/{deal['id']}", json={"stage": "won"}, headers=alice.headers)
    assert response.json()["stage"] == "won"


@pytest.mark.parametrize("path", ["/api/v1/contacts/con_999999", "/api/v1/contacts/nope", "/api/v1/widgets"])
async def test_unknown_paths_are_404_json(client: httpx.AsyncClient, alice: Tokens, path: str) -> None:
    response = await client.get(path, headers=alice.headers)
    assert response.status_code == 404 and response.json()["error"] == "not_found"


async def test_unsupported_methods_are_405(client: httpx.AsyncClient, alice: Tokens) -> None:
    record = (await _items(client, alice, "/api/v1/contacts"))[0]
    response = await client.delete(f"/api/v1/contacts/{record['id']}", headers=alice.headers)
    assert response.status_code == 405


# --- validation --------------------------------------------------------------------------------------------------

INVALID_CREATES: list[tuple[str, Any, str]] = [
    ("contacts", {}, "name"),
    ("contacts", {"name": ""}, "name"),
    ("contacts", {"name": "   "}, "name"),
    ("contacts", {"name": None}, "name"),
    ("contacts", {"name": 42}, "name"),
    ("contacts", {"name": "x" * 201}, "name"),
    ("contacts", {"name": "Ok", "email": "not-an-email"}, "email"),
    ("contacts", {"name": "Ok", "email": "a@b.c\n"}, "email"),
    ("contacts", {"name": "Ok", "phone": "call me"}, "phone"),
    ("contacts", {"name": "Ok", "id": "con_1"}, "id"),
    ("contacts", {"name": "Ok", "owner": "acme-u-1002"}, "owner"),
    ("contacts", {"name": "Ok", "created_at": "2020-01-01T00:00:00Z"}, "created_at"),
    ("deals", {"title": "T"}, "amount"),
    ("deals", {"title": "T", "amount": "100"}, "amount"),
    ("deals", {"title": "T", "amount": True}, "amount"),
    ("deals", {"title": "T", "amount": -1}, "amount"),
    ("deals", {"title": "T", "amount": 1e300}, "amount"),
    ("deals", {"title": "T", "amount": 5, "stage": "negotiation"}, "stage"),
    ("deals", {"title": "T", "amount": 5, "stage": None}, "stage"),
    ("deals", {"title": "T", "amount": 5, "contact_id": "con_999999"}, "contact_id"),
    ("deals", {"title": "T", "amount": 5, "contact_id": 7}, "contact_id"),
    ("notes", {"body": "x" * 5001}, "body"),
    ("notes", {"body": ["list"]}, "body"),
    ("notes", [], ""),
    ("notes", "just a string", ""),
    ("notes", None, ""),
]


@pytest.mark.parametrize(("resource", "payload", "field"), INVALID_CREATES)
async def test_invalid_create_is_422_with_field_errors(
    client: httpx.AsyncClient, alice: Tokens, resource: str, payload: Any, field: str
) -> None:
    before = len(await _items(client, alice, f"/api/v1/{resource}?limit=100"))
    headers = {**alice.headers, "content-type": "application/json"}
    response = await client.post(f"/api/v1/{resource}", content=json.dumps(payload), headers=headers)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "validation_failed" and body["error_description"]
    assert field in {error["field"] for error in body["errors"]}
    assert len(await _items(client, alice, f"/api/v1/{resource}?limit=100")) == before


async def test_all_field_errors_are_reported_together(client: httpx.AsyncClient, alice: Tokens) -> None:
    response = await client.post("/api/v1/deals", json={"amount": "x", "stage": "nope"}, headers=alice.headers)
    assert {error["field"] for error in response.json()["errors"]} == {"title", "amount", "stage"}


@pytest.mark.parametrize(
    ("payload", "field"), [({}, ""), ({"name": None}, "name"), ({"nickname": "Z"}, "nickname"), ([1], "")]
)
async def test_invalid_update_is_422(client: httpx.AsyncClient, alice: Tokens, payload: Any, field: str) -> None:
    record = (await _items(client, alice, "/api/v1/contacts"))[0]
    response = await client.patch(f"/api/v1/contacts/{record['id']}", json=payload, headers=alice.headers)
    assert response.status_code == 422
    assert field in {error["field"] for error in response.json()["errors"]}
    assert (await client.get(f"/api/v1/contacts/{record['id']}", headers=alice.headers)).json() == record


@pytest.mark.parametrize("body", [b"{", b'{"name": NaN}', b'{"name": Infinity}', b"\xff", b"[" * 5000 + b"]" * 5000])
async def test_malformed_json_is_400(client: httpx.AsyncClient, alice: Tokens, body: bytes) -> None:
    headers = {**alice.headers, "content-type": "application/json"}
    response = await client.post("/api/v1/contacts", content=body, headers=headers)
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


async def test_huge_integer_is_rejected_without_crashing(client: httpx.AsyncClient, alice: Tokens) -> None:
    headers = {**alice.headers, "content-type": "application/json"}
    body = b'{"title": "T", "amount": ' + b"9" * 5000 + b"}"
    response = await client.post("/api/v1/deals", content=body, headers=headers)
    assert response.status_code in (400, 422)


async def test_non_json_content_type_is_415(client: httpx.AsyncClient, alice: Tokens) -> None:
    response = await client.post("/api/v1/contacts", data={"name": "Form"}, headers=alice.headers)
    assert response.status_code == 415 and response.json()["error"] == "unsupported_media_type"


async def test_content_type_with_charset_is_fine(client: httpx.AsyncClient, alice: Tokens) -> None:
    headers = {**alice.headers, "content-type": "application/json; charset=utf-8"}
    response = await client.post("/api/v1/contacts", content=b'{"name": "Charset"}', headers=headers)
    assert response.status_code == 201


async def test_oversized_body_is_413(client: httpx.AsyncClient, alice: Tokens) -> None:
    response = await client.post("/api/v1/notes", json={"body": "x" * 70_000}, headers=alice.headers)
    assert response.status_code == 413 and response.json()["error"] == "request_too_large"


async def test_auth_is_checked_before_the_body(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/contacts", content=b"{", headers={"content-type": "application/json"})
    assert response.status_code == 401


# --- pagination --------------------------------------------------------------------------------------------------


async def _create_contacts(client: httpx.AsyncClient, tokens: Tokens, count: int) -> list[str]:
    ids = []
    for index in range(count):
        response = await client.post("/api/v1/contacts", json={"name": f"Bulk {index:02}"}, headers=tokens.headers)
        ids.append(response.json()["id"])
    return ids


async def test_pagination_walks_every_record_once(client: httpx.AsyncClient, alice: Tokens) -> None:
    created = await _create_contacts(client, alice, 25)
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params = {"limit": "7", **({"cursor": cursor} if cursor else {})}
        body = (await client.get("/api/v1/contacts", params=params, headers=alice.headers)).json()
        assert len(body["items"]) <= 7
        seen += [item["id"] for item in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 4
    assert seen[3:] == created and len(seen) == len(set(seen)) == 28


async def test_default_and_maximum_limits(client: httpx.AsyncClient, alice: Tokens) -> None:
    await _create_contacts(client, alice, 120)
    default = (await client.get("/api/v1/contacts", headers=alice.headers)).json()
    assert len(default["items"]) == 20 and default["next_cursor"]
    largest = (await client.get("/api/v1/contacts?limit=100", headers=alice.headers)).json()
    assert len(largest["items"]) == 100


async def test_exact_fit_has_no_next_cursor(client: httpx.AsyncClient, alice: Tokens) -> None:
    body = (await client.get("/api/v1/contacts?limit=3", headers=alice.headers)).json()
    assert len(body["items"]) == 3 and body["next_cursor"] is None


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=101", "limit=abc", "limit=-1", "limit=1.5", "limit=", "limit=١", "limit=" + "9" * 50]
)
async def test_bad_limit_is_422(client: httpx.AsyncClient, alice: Tokens, query: str) -> None:
    response = await client.get(f"/api/v1/contacts?{query}", headers=alice.headers)
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "limit"


async def test_bad_cursors_are_422(client: httpx.AsyncClient, alice: Tokens) -> None:
    deals_cursor = (await client.get("/api/v1/deals?limit=1", headers=alice.headers)).json()["next_cursor"]
    for cursor in ("garbage!", "", "x" * 500, deals_cursor, "Y29udGFjdHM6LTE"):
        response = await client.get("/api/v1/contacts", params={"cursor": cursor}, headers=alice.headers)
        assert response.status_code == 422, cursor
        assert response.json()["errors"][0]["field"] == "cursor"


async def test_cursor_survives_new_records(client: httpx.AsyncClient, alice: Tokens) -> None:
    first = (await client.get("/api/v1/contacts?limit=2", headers=alice.headers)).json()
    added = await _create_contacts(client, alice, 1)
    rest = await client.get("/api/v1/contacts", params={"cursor": first["next_cursor"]}, headers=alice.headers)
    assert [item["id"] for item in rest.json()["items"]][-1] == added[0]


# --- search ------------------------------------------------------------------------------------------------------


async def test_search_is_a_case_insensitive_substring(client: httpx.AsyncClient, alice: Tokens) -> None:
    assert [c["name"] for c in await _items(client, alice, "/api/v1/contacts/search?q=GLOBEX")] == ["Carol Chen"]
    assert [c["name"] for c in await _items(client, alice, "/api/v1/contacts/search?q=initech.example")] == [
        "Dave Patel"
    ]
    notes = await _items(client, alice, "/api/v1/notes/search?q=ignore%20previous")
    assert len(notes) == 1 and PROMPT_INJECTION in notes[0]["body"]
    assert [d["title"] for d in await _items(client, alice, "/api/v1/deals/search?q=WON")] == ["Umbrella pilot"]


async def test_search_does_not_match_non_text_fields(client: httpx.AsyncClient, alice: Tokens) -> None:
    assert await _items(client, alice, "/api/v1/deals/search?q=12000") == []
    assert await _items(client, alice, "/api/v1/contacts/search?q=con_") == []


async def test_search_only_sees_own_records(client: httpx.AsyncClient, bob: Tokens) -> None:
    assert await _items(client, bob, "/api/v1/contacts/search?q=carol") == []
    assert await _items(client, bob, "/api/v1/notes/search?q=ignore") == []


async def test_search_paginates(client: httpx.AsyncClient, alice: Tokens) -> None:
    await _create_contacts(client, alice, 5)
    first = (await client.get("/api/v1/contacts/search?q=bulk&limit=3", headers=alice.headers)).json()
    assert len(first["items"]) == 3
    params = {"q": "bulk", "cursor": first["next_cursor"]}
    rest = (await client.get("/api/v1/contacts/search", params=params, headers=alice.headers)).json()
    assert [item["name"] for item in rest["items"]] == ["Bulk 03", "Bulk 04"] and rest["next_cursor"] is None


@pytest.mark.parametrize("query", ["", "q=", "q=%20%20", "q=" + "a" * 201])
async def test_search_needs_a_reasonable_query(client: httpx.AsyncClient, alice: Tokens, query: str) -> None:
    response = await client.get(f"/api/v1/contacts/search?{query}", headers=alice.headers)
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "q"
