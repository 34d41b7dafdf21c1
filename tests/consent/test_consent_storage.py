"""The repository methods behind remembered consent, /apps and the operator commands, on SQLite and PostgreSQL,
and migration 0007 in both directions."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import inspect

from deputy.keys import KeyRing
from deputy.oauth.models import Client, ClientKind, Consent, Flow, FlowStatus, Grant, RefreshToken
from deputy.storage.sql.engine import Database
from deputy.storage.sql.identity import ConsentEntry, ConsentKey
from deputy.storage.sql.store import SqlStore
from support import migrate_to

NOW = 1_800_000_000
DAY = 86400
CB = "https://app.example/cb"
KEY = ConsentKey("usr_1", "dcl_1", CB, ("crm.read",))


@pytest.fixture
def store(db_url: str) -> Iterator[SqlStore]:
    db = Database(db_url)
    try:
        db.migrate()
        yield SqlStore(db, KeyRing.generate(NOW))
    finally:
        db.dispose()


def approve(store: SqlStore, key: ConsentKey = KEY, *, until: int | None = NOW + 30 * DAY) -> None:
    with store.write() as tx:
        tx.consents.record(Consent(key.user_id, key.client_id, key.redirect_uri, key.scopes, NOW))
        tx.consents.remember(key, until=until)


def remember_until(store: SqlStore, key: ConsentKey = KEY, now: int = NOW) -> int | None:
    with store.read() as tx:
        return tx.consents.load_remember_until(key, now=now)


def test_a_remembered_consent_stands_only_for_its_exact_tuple_until_it_expires(store: SqlStore) -> None:
    approve(store)
    assert remember_until(store) == NOW + 30 * DAY
    assert remember_until(store, now=NOW + 30 * DAY) is None
    for other in (
        ConsentKey("usr_2", "dcl_1", CB, ("crm.read",)),
        ConsentKey("usr_1", "dcl_2", CB, ("crm.read",)),
        ConsentKey("usr_1", "dcl_1", CB + "x", ("crm.read",)),
        ConsentKey("usr_1", "dcl_1", CB, ("crm.read", "crm.write")),
        ConsentKey("usr_1", "dcl_1", CB, ()),
    ):
        assert remember_until(store, other) is None, other


def test_revocation_reauthorization_and_clearing_end_a_remembered_consent(store: SqlStore) -> None:
    approve(store)
    with store.write() as tx:
        tx.consents.revoke("usr_1", "dcl_1", now=NOW + 1)
    assert remember_until(store) is None
    approve(store)  # approved on the page again: stands again
    assert remember_until(store) is not None
    with store.write() as tx:
        tx.consents.mark_reauth_required("usr_1", now=NOW + 2)
    assert remember_until(store) is None
    approve(store, until=None)  # approved again, under prompt = "always"
    assert remember_until(store) is None
    (entry,) = store_entries(store)
    assert entry.remember_until is None and entry.consent.reauth_required_at is None


def store_entries(store: SqlStore, user_id: str = "usr_1") -> list[ConsentEntry]:
    with store.read() as tx:
        return list(tx.consents.list_entries(user_id))


def test_entries_use_and_per_client_operations(store: SqlStore) -> None:
    approve(store)
    approve(store, ConsentKey("usr_2", "dcl_1", CB, ("crm.read",)))
    approve(store, ConsentKey("usr_1", "dcl_2", CB, ("crm.read",)), until=None)
    with store.write() as tx:
        tx.consents.mark_used(KEY, now=NOW + 5)
        assert tx.consents.count_live_for_client("dcl_1") == 2
        assert tx.consents.forget_client("dcl_1") == 2
        assert tx.consents.forget_client("dcl_1") == 0
        tx.consents.revoke("usr_2", "dcl_1", now=NOW + 6)
        assert tx.consents.count_live_for_client("dcl_1") == 1
        entries = tx.consents.list_entries("usr_1")
    assert [(e.consent.client_id, e.consent.last_used_at, e.remember_until) for e in entries] == [
        ("dcl_1", NOW + 5, None), ("dcl_2", None, None)]  # fmt: skip


def test_users_by_subject(store: SqlStore) -> None:
    with store.write() as tx:
        user = tx.users.upsert_by_subject("sub-1", "One", now=NOW)
        assert tx.users.load_by_subject("sub-1") == user
        assert tx.users.load_by_subject("sub-2") is None


def client(client_id: str, kind: ClientKind = ClientKind.DYNAMIC, **extra: object) -> Client:
    return Client(client_id, "App", (CB,), "none", kind, NOW, **extra)  # type: ignore[arg-type]


def test_disabled_and_document_clients(store: SqlStore) -> None:
    doc = "https://tools.example/client.json"
    with store.write() as tx:
        tx.clients.save(client("dcl_1", expires_at=NOW + 10))
        assert not tx.clients.is_disabled("dcl_1")
        assert tx.clients.disable("dcl_1", NOW)
        assert tx.clients.is_disabled("dcl_1") and tx.clients.load("dcl_1", now=NOW) is None
        record = tx.clients.load_record("dcl_1")
        assert record is not None and record.disabled_at == NOW
        assert tx.clients.enable("dcl_1") and not tx.clients.enable("dcl_1")
        assert tx.clients.load("dcl_1", now=NOW) is not None

        assert tx.clients.disable_document(doc, NOW) and not tx.clients.disable_document(doc, NOW + 1)
        assert tx.clients.is_disabled(doc)
        record = tx.clients.load_record(doc)
        assert record is not None and record.kind is ClientKind.DOCUMENT and record.expires_at is None
        assert tx.clients.enable(doc)
        assert tx.clients.load_record(doc) is None and not tx.clients.is_disabled(doc)


def test_grants_per_client_and_last_issued(store: SqlStore) -> None:
    with store.write() as tx:
        for gid, uid, cid, at in (("g1", "u1", "c1", NOW), ("g2", "u2", "c1", NOW + 5), ("g3", "u1", "c2", NOW + 1)):
            tx.grants.create(Grant(gid, uid, cid, ("crm.read",), "https://d.example/mcp", at))
        tx.refresh_tokens.save(RefreshToken("rt1", "g1", "c1", ("crm.read",), NOW + 9, NOW + DAY))
        assert tx.grants.last_issued(user_id="u1") == {"c1": NOW + 9, "c2": NOW + 1}
        assert tx.grants.last_issued(client_id="c1") == {"c1": NOW + 9}
        assert tx.grants.last_issued(user_id="u3") == {}
        assert sorted(tx.grants.revoke_client("c1", now=NOW + 10, reason="client-disabled")) == ["g1", "g2"]
        assert tx.grants.revoke_client("c1", now=NOW + 11, reason="client-disabled") == []
        assert tx.refresh_tokens.rotate(["rt1"], now=NOW + 12) is None  # retired with its grant
        g3 = tx.grants.load("g3")
    assert g3 is not None and g3.revoked_at is None


def test_flows_remember_how_they_were_approved(store: SqlStore) -> None:
    flow = Flow("f1", "c1", CB, ("crm.read",), "c" * 43, "https://d.example/mcp", None, FlowStatus.PENDING,
                NOW, NOW + 600, "h")  # fmt: skip
    with store.write() as tx:
        tx.flows.create(flow)
        assert tx.flows.remembered_at("f1") is None
        tx.flows.mark_remembered("f1", NOW + 1)
        assert tx.flows.remembered_at("f1") == NOW + 1
        assert tx.flows.remembered_at("f2") is None


def test_migration_0007_downgrades_and_upgrades(db_url: str) -> None:
    db = Database(db_url)
    try:
        db.migrate()
        migrate_to(db, "0006", down=True)
        columns = inspect(db.engine)
        assert "remember_until" not in {c["name"] for c in columns.get_columns("consents")}
        assert "remembered_at" not in {c["name"] for c in columns.get_columns("flows")}
        db.migrate()
        columns = inspect(db.engine)
        assert "remember_until" in {c["name"] for c in columns.get_columns("consents")}
        assert "remembered_at" in {c["name"] for c in columns.get_columns("flows")}
    finally:
        db.dispose()
