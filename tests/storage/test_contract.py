"""The storage contract: every repository operation, with exact results, on SQLite and PostgreSQL alike.

Each test takes the ``db_url`` fixture (through ``store``), so it runs once per backend. Secrets are opaque strings
here: the repositories store keyed hashes, and which hash means what is the services' business.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from deputy.broker.vault import Vault
from deputy.keys import KeyRing
from deputy.oauth.models import (
    AuthorizationCode,
    Client,
    ClientKind,
    Consent,
    Flow,
    FlowStatus,
    Grant,
    RefreshToken,
)
from deputy.storage.sql.engine import Database
from deputy.storage.sql.flows import ConsumedState
from deputy.storage.sql.schema import flows, grants, refresh_tokens, users
from deputy.storage.sql.store import SqlStore
from deputy.storage.sql.vault import SealedCredential

NOW = 1_800_000_000
HOUR = 3600
DAY = 86400


class Boom(Exception):
    """Raised inside a transaction to prove it rolls back."""


@pytest.fixture
def store(db_url: str) -> Iterator[SqlStore]:
    db = Database(db_url)
    try:
        db.migrate()
        yield SqlStore(db, KeyRing.generate(NOW))
    finally:
        db.dispose()


def dynamic_client(client_id: str = "dyn_1", **overrides: object) -> Client:
    values: dict[str, object] = {
        "client_id": client_id,
        "client_name": "Test Assistant",
        "redirect_uris": ("https://app.example/callback", "http://127.0.0.1/cb"),
        "token_endpoint_auth_method": "client_secret_basic",
        "kind": ClientKind.DYNAMIC,
        "created_at": NOW,
        "secret_hash": "h-secret",
        "grant_types": ("authorization_code",),
        "scope": ("crm.read", "crm.write"),
        "application_type": "native",
        "client_uri": "https://app.example/",
        "last_used_at": None,
        "expires_at": NOW + 7 * DAY,
        "disabled_at": None,
    }
    values.update(overrides)
    return Client(**values)  # type: ignore[arg-type]


def static_client(client_id: str = "static_1", **overrides: object) -> Client:
    values: dict[str, object] = {
        "client_id": client_id,
        "client_name": "Operator App",
        "redirect_uris": ("https://ops.example/cb",),
        "token_endpoint_auth_method": "none",
        "kind": ClientKind.STATIC,
        "created_at": NOW,
    }
    values.update(overrides)
    return Client(**values)  # type: ignore[arg-type]


def pending_flow(flow_id: str = "flw_1", **overrides: object) -> Flow:
    values: dict[str, object] = {
        "flow_id": flow_id,
        "client_id": "dyn_1",
        "redirect_uri": "https://app.example/callback",
        "scopes": ("crm.read", "crm.write"),
        "code_challenge": "challenge-" + flow_id,
        "resource": "https://deputy.example/mcp",
        "state": "client-state",
        "status": FlowStatus.PENDING,
        "created_at": NOW,
        "expires_at": NOW + 600,
        "csrf_hash": "csrf-" + flow_id,
        "session_user_id": "usr_1",
    }
    values.update(overrides)
    return Flow(**values)  # type: ignore[arg-type]


def approve(store: SqlStore, flow_id: str = "flw_1", *, now: int = NOW + 10) -> Flow | None:
    with store.write() as tx:
        return tx.flows.approve(
            flow_id,
            ["csrf-" + flow_id],
            now=now,
            upstream_state_hash="state-" + flow_id,
            binding_hash="binding-" + flow_id,
            upstream_verifier=b"sealed\x00verifier\xff",
        )


def grant(grant_id: str = "grt_1", user_id: str = "usr_1", client_id: str = "dyn_1") -> Grant:
    return Grant(grant_id, user_id, client_id, ("crm.read",), "https://deputy.example/mcp", NOW)


def code(code_hash: str = "code-1", grant_id: str = "grt_1", **overrides: object) -> AuthorizationCode:
    values: dict[str, object] = {
        "code_hash": code_hash,
        "grant_id": grant_id,
        "client_id": "dyn_1",
        "redirect_uri": "https://app.example/callback",
        "code_challenge": "challenge",
        "resource": "https://deputy.example/mcp",
        "scopes": ("crm.read", "crm.write"),
        "user_id": "usr_1",
        "expires_at": NOW + 60,
    }
    values.update(overrides)
    return AuthorizationCode(**values)  # type: ignore[arg-type]


def refresh(token_hash: str, grant_id: str = "grt_1", *, expires_at: int = NOW + 30 * DAY) -> RefreshToken:
    return RefreshToken(token_hash, grant_id, "dyn_1", ("crm.read",), NOW, expires_at)


def flow_column(store: SqlStore, flow_id: str, column: str) -> Any:
    with store.read() as tx:
        return tx.conn.execute(select(flows.c[column]).where(flows.c.flow_id == flow_id)).scalar_one()


def rotated_at(store: SqlStore, token_hash: str) -> int | None:
    with store.read() as tx:
        value = tx.conn.execute(
            select(refresh_tokens.c.rotated_at).where(refresh_tokens.c.token_hash == token_hash)
        ).scalar_one()
    return None if value is None else int(value)


# --- engine and transactions -----------------------------------------------------------------------------------


def test_migrate_twice_is_a_no_op(store: SqlStore) -> None:
    with store.write() as tx:
        tx.clients.save(dynamic_client())
    with store.read() as tx:
        before = tx.conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    store.db.migrate()
    with store.read() as tx:
        after = tx.conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
        assert tx.clients.load("dyn_1", now=NOW) == dynamic_client()
    assert before == after == [_head_revision()]


def _head_revision() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    import deputy.storage

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(deputy.storage.__file__).parent / "migrations"))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    assert head is not None
    return head


def test_a_transaction_that_raises_rolls_back_everything(store: SqlStore) -> None:
    with pytest.raises(Boom), store.write() as tx:
        tx.clients.save(dynamic_client())
        tx.grants.create(grant())
        tx.codes.save(code())
        tx.audit.append(at=NOW, event="code.issued", outcome="ok", client_id="dyn_1", user_id="usr_1", detail={})
        raise Boom
    with store.read() as tx:
        assert tx.clients.load("dyn_1", now=NOW) is None
        assert tx.grants.load("grt_1") is None
        assert tx.codes.load(["code-1"]) is None
        assert tx.audit.events() == []


def test_a_failed_statement_rolls_back_the_writes_before_it(store: SqlStore) -> None:
    with store.write() as tx:
        tx.clients.save(dynamic_client())
    with pytest.raises(IntegrityError), store.write() as tx:
        tx.grants.create(grant())
        tx.clients.save(dynamic_client(client_name="Duplicate"))  # primary key clash
    with store.read() as tx:
        assert tx.grants.load("grt_1") is None
        loaded = tx.clients.load("dyn_1", now=NOW)
        assert loaded is not None and loaded.client_name == "Test Assistant"


def test_a_committed_write_is_visible_to_a_later_read(store: SqlStore) -> None:
    with store.write() as tx:
        tx.grants.create(grant())
    with store.read() as tx:
        assert tx.grants.load("grt_1") == grant()


# --- clients -----------------------------------------------------------------------------------------------------


def test_client_save_load_round_trip(store: SqlStore) -> None:
    client = dynamic_client()
    public = static_client("static_pub", scope=None, client_uri=None, secret_hash=None)
    with store.write() as tx:
        tx.clients.save(client, registered_from="ip-a")
        tx.clients.save(public)
    with store.read() as tx:
        assert tx.clients.load("dyn_1", now=NOW) == client
        assert tx.clients.load("static_pub", now=NOW) == public
        assert tx.clients.load("nobody", now=NOW) is None
        assert [c.client_id for c in tx.clients.list_all()] == ["dyn_1", "static_pub"]


def test_client_save_twice_is_an_integrity_error(store: SqlStore) -> None:
    with store.write() as tx:
        tx.clients.save(dynamic_client())
    with pytest.raises(IntegrityError), store.write() as tx:
        tx.clients.save(dynamic_client())


def test_client_upsert_static_inserts_then_rewrites_but_keeps_creation_and_use(store: SqlStore) -> None:
    with store.write() as tx:
        tx.clients.upsert_static(static_client())
        tx.clients.mark_used("static_1", NOW + 5, keep_for=DAY)
    changed = static_client(
        client_name="Renamed", redirect_uris=("https://ops.example/new",), created_at=NOW + 100, scope=("crm.read",)
    )
    with store.write() as tx:
        tx.clients.upsert_static(changed)
    with store.read() as tx:
        loaded = tx.clients.load("static_1", now=NOW + 100)
        assert [c.client_id for c in tx.clients.list_all()] == ["static_1"]
    assert loaded == static_client(
        client_name="Renamed",
        redirect_uris=("https://ops.example/new",),
        scope=("crm.read",),
        created_at=NOW,
        last_used_at=NOW + 5,
    )


def test_expired_client_is_not_loadable(store: SqlStore) -> None:
    with store.write() as tx:
        tx.clients.save(dynamic_client(expires_at=NOW + 10))
    with store.read() as tx:
        assert tx.clients.load("dyn_1", now=NOW + 9) is not None
        assert tx.clients.load("dyn_1", now=NOW + 10) is None
        assert tx.clients.load("dyn_1", now=NOW + 11) is None


def test_disabled_client_is_not_loadable_and_disable_is_one_shot(store: SqlStore) -> None:
    with store.write() as tx:
        tx.clients.save(dynamic_client())
        tx.clients.save(static_client())
    with store.write() as tx:
        assert tx.clients.disable("dyn_1", NOW + 1) is True
        assert tx.clients.disable("dyn_1", NOW + 2) is False
        assert tx.clients.disable("nobody", NOW + 2) is False
    with store.read() as tx:
        assert tx.clients.load("dyn_1", now=NOW + 3) is None
        assert tx.clients.load("static_1", now=NOW + 3) is not None
        disabled = [c for c in tx.clients.list_all() if c.client_id == "dyn_1"]
    assert [c.disabled_at for c in disabled] == [NOW + 1]


def test_mark_used_pushes_out_a_dynamic_clients_expiry_at_most_hourly(store: SqlStore) -> None:
    with store.write() as tx:
        tx.clients.save(dynamic_client(expires_at=NOW + DAY))
        tx.clients.mark_used("dyn_1", NOW + 100, keep_for=7 * DAY)
    with store.read() as tx:
        first = tx.clients.load("dyn_1", now=NOW + 100)
    assert first is not None
    assert (first.last_used_at, first.expires_at) == (NOW + 100, NOW + 100 + 7 * DAY)

    with store.write() as tx:  # exactly an hour later: not stale yet, no write
        tx.clients.mark_used("dyn_1", NOW + 100 + HOUR, keep_for=7 * DAY)
    with store.read() as tx:
        same = tx.clients.load("dyn_1", now=NOW + 100 + HOUR)
    assert same == first

    with store.write() as tx:
        tx.clients.mark_used("dyn_1", NOW + 101 + HOUR, keep_for=7 * DAY)
    with store.read() as tx:
        later = tx.clients.load("dyn_1", now=NOW + 101 + HOUR)
    assert later is not None
    assert (later.last_used_at, later.expires_at) == (NOW + 101 + HOUR, NOW + 101 + HOUR + 7 * DAY)


def test_mark_used_never_gives_a_static_client_an_expiry(store: SqlStore) -> None:
    with store.write() as tx:
        tx.clients.save(static_client())
        tx.clients.mark_used("static_1", NOW + 50, keep_for=7 * DAY)
    with store.read() as tx:
        loaded = tx.clients.load("static_1", now=NOW + 50)
    assert loaded is not None
    assert (loaded.last_used_at, loaded.expires_at) == (NOW + 50, None)


def test_count_registered_since_counts_per_source_from_a_time(store: SqlStore) -> None:
    with store.write() as tx:
        tx.clients.save(dynamic_client("a1", created_at=NOW), registered_from="ip-a")
        tx.clients.save(dynamic_client("a2", created_at=NOW + 100), registered_from="ip-a")
        tx.clients.save(dynamic_client("b1", created_at=NOW + 100), registered_from="ip-b")
        tx.clients.save(dynamic_client("x1", created_at=NOW + 100))
    with store.read() as tx:
        assert tx.clients.count_registered_since("ip-a", NOW) == 2
        assert tx.clients.count_registered_since("ip-a", NOW + 1) == 1
        assert tx.clients.count_registered_since("ip-a", NOW + 100) == 1
        assert tx.clients.count_registered_since("ip-a", NOW + 101) == 0
        assert tx.clients.count_registered_since("ip-b", NOW) == 1
        assert tx.clients.count_registered_since("ip-c", NOW) == 0


def test_purge_expired_clients_deletes_only_expired_registrations(store: SqlStore) -> None:
    with store.write() as tx:
        tx.clients.save(dynamic_client("gone_early", expires_at=NOW + 10))
        tx.clients.save(dynamic_client("gone_now", expires_at=NOW + 20))
        tx.clients.save(dynamic_client("alive", expires_at=NOW + 21))
        tx.clients.save(dynamic_client("disabled", expires_at=NOW + 21, disabled_at=NOW))
        tx.clients.save(static_client())
    with store.write() as tx:
        assert tx.clients.purge_expired(NOW + 20) == 2
    with store.write() as tx:
        assert tx.clients.purge_expired(NOW + 20) == 0
    with store.read() as tx:
        assert sorted(c.client_id for c in tx.clients.list_all()) == ["alive", "disabled", "static_1"]


# --- flows -------------------------------------------------------------------------------------------------------


def test_flow_create_load_round_trip(store: SqlStore) -> None:
    anonymous = pending_flow("flw_2", state=None, session_user_id=None)
    with store.write() as tx:
        tx.flows.create(pending_flow())
        tx.flows.create(anonymous)
    with store.read() as tx:
        assert tx.flows.load("flw_1") == pending_flow()
        assert tx.flows.load("flw_2") == anonymous
        assert tx.flows.load("flw_nope") is None


def test_flow_approve_checks_csrf_and_is_one_shot(store: SqlStore) -> None:
    with store.write() as tx:
        tx.flows.create(pending_flow())
    with store.write() as tx:
        wrong = tx.flows.approve(
            "flw_1", ["csrf-wrong"], now=NOW + 10, upstream_state_hash="s", binding_hash="b", upstream_verifier=None
        )
    assert wrong is None
    with store.read() as tx:
        assert tx.flows.load("flw_1") == pending_flow()

    with store.write() as tx:  # any candidate hash (hmac-key rotation) may match
        approved = tx.flows.approve(
            "flw_1",
            ["csrf-old-key", "csrf-flw_1"],
            now=NOW + 10,
            upstream_state_hash="state-flw_1",
            binding_hash="binding-flw_1",
            upstream_verifier=b"v",
        )
    expected = pending_flow(status=FlowStatus.APPROVED, decided_at=NOW + 10, csrf_hash="")
    assert approved == expected
    assert approve(store, now=NOW + 11) is None
    with store.write() as tx:
        assert tx.flows.deny("flw_1", ["csrf-flw_1"], now=NOW + 11) is None
    with store.read() as tx:
        assert tx.flows.load("flw_1") == expected


def test_flow_approve_after_expiry_is_refused(store: SqlStore) -> None:
    with store.write() as tx:
        tx.flows.create(pending_flow())
    assert approve(store, now=NOW + 600) is None
    assert flow_column(store, "flw_1", "status") == "pending"
    assert approve(store, now=NOW + 599) is not None


def test_flow_deny_checks_csrf_and_is_one_shot(store: SqlStore) -> None:
    with store.write() as tx:
        tx.flows.create(pending_flow())
    with store.write() as tx:
        assert tx.flows.deny("flw_1", ["csrf-wrong"], now=NOW + 5) is None
        denied = tx.flows.deny("flw_1", ["csrf-flw_1"], now=NOW + 5)
        assert tx.flows.deny("flw_1", ["csrf-flw_1"], now=NOW + 6) is None
    assert denied == pending_flow(status=FlowStatus.DENIED, decided_at=NOW + 5, csrf_hash="")
    assert approve(store) is None
    assert flow_column(store, "flw_1", "upstream_state_hash") is None


def test_flow_deny_after_expiry_is_refused(store: SqlStore) -> None:
    with store.write() as tx:
        tx.flows.create(pending_flow())
        assert tx.flows.deny("flw_1", ["csrf-flw_1"], now=NOW + 600) is None
        assert tx.flows.load("flw_1") == pending_flow()


def test_consume_upstream_state_is_one_shot(store: SqlStore) -> None:
    with store.write() as tx:
        tx.flows.create(pending_flow())
        assert tx.flows.describe_state(["state-flw_1"]) is None  # no upstream state before approval
    assert approve(store) is not None
    with store.read() as tx:
        assert tx.flows.describe_state(["state-flw_1"]) is FlowStatus.APPROVED
    with store.write() as tx:
        consumed = tx.flows.consume_upstream_state(["state-other", "state-flw_1"], now=NOW + 20)
        again = tx.flows.consume_upstream_state(["state-flw_1"], now=NOW + 21)
        unknown = tx.flows.consume_upstream_state(["state-unknown"], now=NOW + 21)
    assert consumed == ConsumedState(
        pending_flow(status=FlowStatus.CALLBACK, decided_at=NOW + 10, csrf_hash=""),
        "binding-flw_1",
        b"sealed\x00verifier\xff",
    )
    assert again is None and unknown is None
    with store.read() as tx:
        assert tx.flows.describe_state(["state-flw_1"]) is FlowStatus.CALLBACK
        assert tx.flows.describe_state(["state-unknown"]) is None


def test_consume_upstream_state_after_expiry_is_refused(store: SqlStore) -> None:
    with store.write() as tx:
        tx.flows.create(pending_flow())
    assert approve(store) is not None
    with store.write() as tx:
        assert tx.flows.consume_upstream_state(["state-flw_1"], now=NOW + 600) is None
        assert tx.flows.describe_state(["state-flw_1"]) is FlowStatus.APPROVED


def test_consume_upstream_state_of_a_pending_or_denied_flow_is_refused(store: SqlStore) -> None:
    with store.write() as tx:
        tx.flows.create(pending_flow())
        denied = tx.flows.deny("flw_1", ["csrf-flw_1"], now=NOW + 1)
        assert denied is not None
        assert tx.flows.consume_upstream_state(["state-flw_1"], now=NOW + 2) is None
        assert tx.flows.consume_upstream_state([""], now=NOW + 2) is None


def test_flow_finish_moves_callback_to_final_and_wipes_the_verifier(store: SqlStore) -> None:
    with store.write() as tx:
        tx.flows.create(pending_flow("flw_1"))
        tx.flows.create(pending_flow("flw_2"))
    assert approve(store, "flw_1") is not None
    assert approve(store, "flw_2") is not None
    with store.write() as tx:
        tx.flows.finish("flw_1", FlowStatus.COMPLETED)  # still APPROVED: not in CALLBACK, nothing happens
        assert tx.flows.consume_upstream_state(["state-flw_1"], now=NOW + 20) is not None
        assert tx.flows.consume_upstream_state(["state-flw_2"], now=NOW + 20) is not None
    assert flow_column(store, "flw_1", "status") == "callback"
    assert bytes(flow_column(store, "flw_1", "upstream_verifier")) == b"sealed\x00verifier\xff"

    with store.write() as tx:
        tx.flows.finish("flw_1", FlowStatus.COMPLETED)
        tx.flows.finish("flw_2", FlowStatus.FAILED)
        tx.flows.finish("flw_1", FlowStatus.FAILED)  # already final: no change
    with store.read() as tx:
        one, two = tx.flows.load("flw_1"), tx.flows.load("flw_2")
        assert tx.flows.describe_state(["state-flw_1"]) is FlowStatus.COMPLETED
    assert one is not None and one.status is FlowStatus.COMPLETED
    assert two is not None and two.status is FlowStatus.FAILED
    assert flow_column(store, "flw_1", "upstream_verifier") is None
    assert flow_column(store, "flw_2", "upstream_verifier") is None


def test_flow_purge_expired(store: SqlStore) -> None:
    with store.write() as tx:
        tx.flows.create(pending_flow("flw_old", expires_at=NOW + 10))
        tx.flows.create(pending_flow("flw_new", expires_at=NOW + 11))
    with store.write() as tx:
        assert tx.flows.purge_expired(NOW + 10) == 1
    with store.read() as tx:
        assert tx.flows.load("flw_old") is None
        assert tx.flows.load("flw_new") is not None


# --- users and sessions ------------------------------------------------------------------------------------------


def test_upsert_by_subject_keeps_the_id_and_follows_the_name(store: SqlStore) -> None:
    with store.write() as tx:
        first = tx.users.upsert_by_subject("acme|alice", "Alice", now=NOW)
    with store.write() as tx:
        second = tx.users.upsert_by_subject("acme|alice", "Alice Example", now=NOW + 100)
        bob = tx.users.upsert_by_subject("acme|bob", "Bob", now=NOW + 100)
    assert first.user_id.startswith("usr_")
    assert (first.upstream_subject, first.display_name, first.created_at) == ("acme|alice", "Alice", NOW)
    assert second.user_id == first.user_id
    assert (second.display_name, second.created_at) == ("Alice Example", NOW)
    assert bob.user_id != first.user_id
    with store.read() as tx:
        assert tx.users.load(first.user_id) == second
        assert tx.users.load(bob.user_id) == bob
        assert tx.users.load("usr_nobody") is None
        last_login = tx.conn.execute(select(users.c.last_login_at).where(users.c.user_id == first.user_id)).scalar_one()
    assert last_login == NOW + 100


def test_session_create_load_expiry_delete(store: SqlStore) -> None:
    with store.write() as tx:
        tx.sessions.create("sess-1", "usr_1", now=NOW, expires_at=NOW + 100)
        tx.sessions.create("sess-2", "usr_2", now=NOW, expires_at=NOW + 200)
    with store.read() as tx:
        assert tx.sessions.load_user_id(["sess-old-key", "sess-1"], now=NOW + 99) == "usr_1"
        assert tx.sessions.load_user_id(["sess-1"], now=NOW + 100) is None
        assert tx.sessions.load_user_id(["sess-unknown"], now=NOW) is None
    with store.write() as tx:
        tx.sessions.delete(["sess-2"])
    with store.read() as tx:
        assert tx.sessions.load_user_id(["sess-2"], now=NOW) is None
        assert tx.sessions.load_user_id(["sess-1"], now=NOW) == "usr_1"
    with store.write() as tx:
        assert tx.sessions.purge_expired(NOW + 100) == 1
        assert tx.sessions.purge_expired(NOW + 100) == 0


# --- consents ----------------------------------------------------------------------------------------------------


def test_consent_record_list_and_revoke(store: SqlStore) -> None:
    read_only = Consent("usr_1", "dyn_1", "https://app.example/callback", ("crm.read",), NOW)
    read_write = Consent("usr_1", "dyn_1", "https://app.example/callback", ("crm.read", "crm.write"), NOW + 1)
    other_client = Consent("usr_1", "dyn_2", "https://app.example/callback", ("crm.read",), NOW + 2)
    other_user = Consent("usr_2", "dyn_1", "https://app.example/callback", ("crm.read",), NOW + 3)
    with store.write() as tx:
        for consent in (read_only, read_write, other_client, other_user):
            tx.consents.record(consent)
    with store.read() as tx:
        assert tx.consents.list_for_user("usr_1") == [read_only, read_write, other_client]
        assert tx.consents.list_for_user("usr_2") == [other_user]
        assert tx.consents.list_for_user("usr_3") == []
    with store.write() as tx:
        assert tx.consents.revoke("usr_1", "dyn_1", now=NOW + 10) == 2
        assert tx.consents.revoke("usr_1", "dyn_1", now=NOW + 11) == 0
    with store.read() as tx:
        assert tx.consents.list_for_user("usr_1") == [
            replace(read_only, revoked_at=NOW + 10),
            replace(read_write, revoked_at=NOW + 10),
            other_client,
        ]
        assert tx.consents.list_for_user("usr_2") == [other_user]


def test_consent_record_of_the_same_tuple_updates_and_clears_revocation(store: SqlStore) -> None:
    consent = Consent("usr_1", "dyn_1", "https://app.example/callback", ("crm.read",), NOW)
    with store.write() as tx:
        tx.consents.record(consent)
        tx.consents.revoke("usr_1", "dyn_1", now=NOW + 5)
    with store.write() as tx:
        tx.consents.record(Consent("usr_1", "dyn_1", "https://app.example/callback", ("crm.read",), NOW + 50))
    with store.read() as tx:
        assert tx.consents.list_for_user("usr_1") == [
            Consent("usr_1", "dyn_1", "https://app.example/callback", ("crm.read",), NOW + 50, revoked_at=None)
        ]
    with store.write() as tx:  # a different redirect URI is a different tuple
        tx.consents.record(Consent("usr_1", "dyn_1", "http://127.0.0.1/cb", ("crm.read",), NOW + 60))
    with store.read() as tx:
        assert len(tx.consents.list_for_user("usr_1")) == 2


# --- grants ------------------------------------------------------------------------------------------------------


def test_grant_create_load(store: SqlStore) -> None:
    wide = Grant("grt_2", "usr_1", "dyn_1", ("crm.read", "crm.write"), "https://deputy.example/mcp", NOW + 1)
    with store.write() as tx:
        tx.grants.create(grant())
        tx.grants.create(wide)
    with store.read() as tx:
        assert tx.grants.load("grt_1") == grant()
        assert tx.grants.load("grt_2") == wide
        assert tx.grants.load("grt_nope") is None


def test_grant_revoke_is_one_shot_and_rotates_out_its_live_refresh_tokens(store: SqlStore) -> None:
    with store.write() as tx:
        tx.grants.create(grant("grt_1"))
        tx.grants.create(grant("grt_2"))
        tx.refresh_tokens.save(refresh("rt-live", "grt_1"))
        tx.refresh_tokens.save(refresh("rt-old", "grt_1"))
        tx.refresh_tokens.save(refresh("rt-other", "grt_2"))
        assert tx.refresh_tokens.rotate(["rt-old"], now=NOW + 5) is not None
    with store.write() as tx:
        assert tx.grants.revoke("grt_1", now=NOW + 10, reason="user") is True
    with store.write() as tx:
        assert tx.grants.revoke("grt_1", now=NOW + 20, reason="again") is False
        assert tx.grants.revoke("grt_nope", now=NOW + 20, reason="user") is False
    with store.read() as tx:
        revoked = tx.grants.load("grt_1")
        reason = tx.conn.execute(select(grants.c.revoked_reason).where(grants.c.grant_id == "grt_1")).scalar_one()
        assert tx.grants.load("grt_2") == grant("grt_2")
        assert tx.refresh_tokens.rotate(["rt-live"], now=NOW + 30) is None
    assert revoked == Grant("grt_1", "usr_1", "dyn_1", ("crm.read",), "https://deputy.example/mcp", NOW, NOW + 10)
    assert reason == "user"
    assert rotated_at(store, "rt-live") == NOW + 10
    assert rotated_at(store, "rt-old") == NOW + 5  # already rotated: its time is kept
    assert rotated_at(store, "rt-other") is None


def test_grant_revoke_for_revokes_every_live_grant_of_one_user_and_client(store: SqlStore) -> None:
    with store.write() as tx:
        tx.grants.create(grant("grt_a", "usr_1", "dyn_1"))
        tx.grants.create(grant("grt_b", "usr_1", "dyn_1"))
        tx.grants.create(grant("grt_dead", "usr_1", "dyn_1"))
        tx.grants.create(grant("grt_other_client", "usr_1", "dyn_2"))
        tx.grants.create(grant("grt_other_user", "usr_2", "dyn_1"))
        tx.refresh_tokens.save(refresh("rt-b", "grt_b"))
        tx.grants.revoke("grt_dead", now=NOW + 1, reason="earlier")
    with store.write() as tx:
        ids = tx.grants.revoke_for("usr_1", "dyn_1", now=NOW + 10, reason="consent-revoked")
        assert tx.grants.revoke_for("usr_1", "dyn_1", now=NOW + 11, reason="consent-revoked") == []
    assert sorted(ids) == ["grt_a", "grt_b"]
    with store.read() as tx:
        assert sorted(tx.grants.revoked_since(NOW)) == [
            ("grt_a", NOW + 10),
            ("grt_b", NOW + 10),
            ("grt_dead", NOW + 1),
        ]
        assert sorted(tx.grants.revoked_since(NOW + 2)) == [("grt_a", NOW + 10), ("grt_b", NOW + 10)]
        assert tx.grants.revoked_since(NOW + 11) == []
        reasons = dict(tx.conn.execute(select(grants.c.grant_id, grants.c.revoked_reason)).all())
    assert reasons == {
        "grt_a": "consent-revoked",
        "grt_b": "consent-revoked",
        "grt_dead": "earlier",
        "grt_other_client": None,
        "grt_other_user": None,
    }
    assert rotated_at(store, "rt-b") == NOW + 10


def test_grant_revoked_since_is_inclusive(store: SqlStore) -> None:
    with store.write() as tx:
        tx.grants.create(grant("grt_1"))
        tx.grants.create(grant("grt_2"))
        tx.grants.revoke("grt_1", now=NOW + 10, reason="user")
    with store.read() as tx:
        assert tx.grants.revoked_since(NOW + 10) == [("grt_1", NOW + 10)]
        assert tx.grants.revoked_since(NOW + 11) == []


# --- authorization codes -----------------------------------------------------------------------------------------


def test_code_consume_is_one_shot_and_a_used_code_stays_loadable(store: SqlStore) -> None:
    with store.write() as tx:
        tx.codes.save(code())
    with store.read() as tx:
        assert tx.codes.load(["code-1"]) == code()
    with store.write() as tx:
        consumed = tx.codes.consume(["code-old-key", "code-1"], now=NOW + 5)
    with store.write() as tx:
        assert tx.codes.consume(["code-1"], now=NOW + 6) is None
        assert tx.codes.consume(["code-unknown"], now=NOW + 6) is None
    assert consumed == code(used_at=NOW + 5)
    with store.read() as tx:
        assert tx.codes.load(["code-1"]) == code(used_at=NOW + 5)
        assert tx.codes.load(["code-unknown"]) is None


def test_expired_code_cannot_be_consumed(store: SqlStore) -> None:
    with store.write() as tx:
        tx.codes.save(code(expires_at=NOW + 60))
    with store.write() as tx:
        assert tx.codes.consume(["code-1"], now=NOW + 60) is None
    with store.read() as tx:
        assert tx.codes.load(["code-1"]) == code(expires_at=NOW + 60, used_at=None)
    with store.write() as tx:
        assert tx.codes.consume(["code-1"], now=NOW + 59) == code(used_at=NOW + 59)


def test_code_purge_expired(store: SqlStore) -> None:
    with store.write() as tx:
        tx.codes.save(code("code-a", expires_at=NOW + 10))
        tx.codes.save(code("code-b", expires_at=NOW + 20))
        tx.codes.save(code("code-c", expires_at=NOW + 21))
        assert tx.codes.consume(["code-c"], now=NOW) is not None
    with store.write() as tx:
        assert tx.codes.purge_expired(NOW + 20) == 2
    with store.read() as tx:
        assert tx.codes.load(["code-a"]) is None
        assert tx.codes.load(["code-b"]) is None
        assert tx.codes.load(["code-c"]) == code("code-c", expires_at=NOW + 21, used_at=NOW)


# --- refresh tokens ----------------------------------------------------------------------------------------------


def test_refresh_token_save_load_rotate(store: SqlStore) -> None:
    with store.write() as tx:
        tx.refresh_tokens.save(refresh("rt-1"))
    with store.read() as tx:
        assert tx.refresh_tokens.load(["rt-1"]) == refresh("rt-1")
        assert tx.refresh_tokens.load(["rt-unknown"]) is None
    with store.write() as tx:
        rotated = tx.refresh_tokens.rotate(["rt-old-key", "rt-1"], now=NOW + 5)
    with store.write() as tx:
        assert tx.refresh_tokens.rotate(["rt-1"], now=NOW + 6) is None
        assert tx.refresh_tokens.rotate(["rt-unknown"], now=NOW + 6) is None
    expected = RefreshToken("rt-1", "grt_1", "dyn_1", ("crm.read",), NOW, NOW + 30 * DAY, NOW + 5)
    assert rotated == expected
    with store.read() as tx:
        assert tx.refresh_tokens.load(["rt-1"]) == expected


def test_expired_refresh_token_cannot_be_rotated(store: SqlStore) -> None:
    with store.write() as tx:
        tx.refresh_tokens.save(refresh("rt-1", expires_at=NOW + 100))
    with store.write() as tx:
        assert tx.refresh_tokens.rotate(["rt-1"], now=NOW + 100) is None
    assert rotated_at(store, "rt-1") is None


def test_refresh_token_purge_expired_and_long_rotated(store: SqlStore) -> None:
    before = NOW + 40 * DAY
    with store.write() as tx:
        tx.refresh_tokens.save(refresh("rt-expired", expires_at=before))
        tx.refresh_tokens.save(refresh("rt-live", expires_at=before + 1))
        tx.refresh_tokens.save(refresh("rt-rotated-long-ago", expires_at=before + DAY))
        tx.refresh_tokens.save(refresh("rt-rotated-recently", expires_at=before + DAY))
        assert tx.refresh_tokens.rotate(["rt-rotated-long-ago"], now=before - 30 * DAY) is not None
        assert tx.refresh_tokens.rotate(["rt-rotated-recently"], now=before - 30 * DAY + 1) is not None
    with store.write() as tx:
        assert tx.refresh_tokens.purge_expired(before) == 2
    with store.read() as tx:
        assert tx.refresh_tokens.load(["rt-expired"]) is None
        assert tx.refresh_tokens.load(["rt-rotated-long-ago"]) is None
        assert tx.refresh_tokens.load(["rt-live"]) is not None
        assert tx.refresh_tokens.load(["rt-rotated-recently"]) is not None


# --- access-token revocations ------------------------------------------------------------------------------------


def test_revocation_is_idempotent_and_queryable(store: SqlStore) -> None:
    with store.write() as tx:
        tx.revocations.revoke("jti-1", "grt_1", now=NOW + 10, expires_at=NOW + 600)
        tx.revocations.revoke("jti-2", "grt_1", now=NOW + 20, expires_at=NOW + 700)
    with store.write() as tx:  # a second revocation of the same jti changes nothing and does not fail
        tx.revocations.revoke("jti-1", "grt_1", now=NOW + 30, expires_at=NOW + 900)
    with store.read() as tx:
        assert tx.revocations.is_revoked("jti-1") is True
        assert tx.revocations.is_revoked("jti-2") is True
        assert tx.revocations.is_revoked("jti-3") is False
        assert sorted(tx.revocations.revoked_since(NOW + 10)) == [("jti-1", NOW + 600), ("jti-2", NOW + 700)]
        assert tx.revocations.revoked_since(NOW + 11) == [("jti-2", NOW + 700)]
        assert tx.revocations.revoked_since(NOW + 21) == []
    with store.write() as tx:
        assert tx.revocations.purge_expired(NOW + 600) == 1
    with store.read() as tx:
        assert tx.revocations.is_revoked("jti-1") is False
        assert tx.revocations.is_revoked("jti-2") is True


# --- vault -------------------------------------------------------------------------------------------------------


def test_vault_put_get_round_trips_bytes_and_upserts(store: SqlStore) -> None:
    blob = bytes(range(256)) * 4
    first = SealedCredential("usr_1", "Acme CRM", "access_token", "vk1", blob, NOW + 3600, NOW)
    with store.write() as tx:
        tx.vault.put(first)
    with store.read() as tx:
        assert tx.vault.get("usr_1", "Acme CRM", "access_token") == first
        assert tx.vault.get("usr_1", "Acme CRM", "refresh_token") is None
        assert tx.vault.get("usr_2", "Acme CRM", "access_token") is None
    replaced = SealedCredential("usr_1", "Acme CRM", "access_token", "vk2", b"\x00\xff\x00", None, NOW + 5)
    with store.write() as tx:
        tx.vault.put(replaced)
    with store.read() as tx:
        assert tx.vault.get("usr_1", "Acme CRM", "access_token") == replaced


def test_vault_delete_for_user_removes_every_purpose_of_one_upstream(store: SqlStore) -> None:
    with store.write() as tx:
        for user, upstream, purpose in (
            ("usr_1", "Acme CRM", "access_token"),
            ("usr_1", "Acme CRM", "refresh_token"),
            ("usr_1", "Other", "access_token"),
            ("usr_2", "Acme CRM", "access_token"),
        ):
            tx.vault.put(SealedCredential(user, upstream, purpose, "vk1", b"ct", None, NOW))
    with store.write() as tx:
        assert tx.vault.delete_for_user("usr_1", "Acme CRM") == 2
        assert tx.vault.delete_for_user("usr_1", "Acme CRM") == 0
    with store.read() as tx:
        assert tx.vault.get("usr_1", "Acme CRM", "access_token") is None
        assert tx.vault.get("usr_1", "Acme CRM", "refresh_token") is None
        assert tx.vault.get("usr_1", "Other", "access_token") is not None
        assert tx.vault.get("usr_2", "Acme CRM", "access_token") is not None


def test_vault_sealed_secret_survives_the_database(store: SqlStore) -> None:
    vault = Vault(KeyRing.generate(NOW))
    sealed = vault.seal(
        user_id="usr_1", upstream="Acme CRM", purpose="access_token", secret="acme_at_é✓", expires_at=None, now=NOW
    )
    with store.write() as tx:
        tx.vault.put(sealed)
    with store.read() as tx:
        loaded = tx.vault.get("usr_1", "Acme CRM", "access_token")
    assert loaded == sealed
    assert vault.open(loaded) == "acme_at_é✓"


# --- audit -------------------------------------------------------------------------------------------------------


def test_audit_append_and_events_in_order(store: SqlStore) -> None:
    with store.write() as tx:
        tx.audit.append(at=NOW, event="code.issued", outcome="ok", client_id="dyn_1", user_id="usr_1",
                        detail={"grant_id": "grt_1", "n": 1})  # fmt: skip
        tx.audit.append(at=NOW + 1, event="code.reused", outcome="revoked", client_id=None, user_id=None,
                        detail={})  # fmt: skip
    with store.write() as tx:
        tx.audit.append(at=NOW + 2, event="code.issued", outcome="ok", client_id="dyn_2", user_id=None,
                        detail={"nested": {"b": [1, 2]}, "a": "é"})  # fmt: skip
    with store.read() as tx:
        everything = tx.audit.events()
        issued = tx.audit.events("code.issued")
        assert tx.audit.events("nothing.happened") == []
    seqs = [e.pop("seq") for e in everything]
    assert seqs == sorted(seqs) and len(set(seqs)) == 3
    assert everything == [
        {"at": NOW, "event": "code.issued", "outcome": "ok", "client_id": "dyn_1", "user_id": "usr_1",
         "detail": {"grant_id": "grt_1", "n": 1}},
        {"at": NOW + 1, "event": "code.reused", "outcome": "revoked", "client_id": None, "user_id": None,
         "detail": {}},
        {"at": NOW + 2, "event": "code.issued", "outcome": "ok", "client_id": "dyn_2", "user_id": None,
         "detail": {"nested": {"b": [1, 2]}, "a": "é"}},
    ]  # fmt: skip
    assert [e["seq"] for e in issued] == [seqs[0], seqs[2]]
