"""The consent state machine as the store enforces it: every status change is an arrow of the diagram in
``deputy.consent.flow``, and nothing leaves a final state."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from deputy.consent.flow import TRANSITIONS, check_transition
from deputy.keys import KeyRing
from deputy.oauth.models import Flow, FlowStatus
from deputy.storage.sql.engine import Database
from deputy.storage.sql.store import SqlStore

NOW = 1_800_000_000


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlStore]:
    db = Database(f"sqlite:///{tmp_path / 'flows.db'}")
    db.migrate()
    yield SqlStore(db, KeyRing.generate(NOW))
    db.dispose()


def _flow(flow_id: str) -> Flow:
    return Flow(flow_id, "dcl_x", "https://app.example/cb", ("crm.read",), "c" * 43, "https://d.example/mcp", "s",
                FlowStatus.PENDING, NOW, NOW + 600, "csrf-hash")  # fmt: skip


def _status(store: SqlStore, flow_id: str) -> FlowStatus:
    with store.read() as tx:
        flow = tx.flows.load(flow_id)
    assert flow is not None
    return flow.status


def test_approve_path_follows_the_diagram(store: SqlStore) -> None:
    with store.write() as tx:
        tx.flows.create(_flow("f1"))
    seen = [_status(store, "f1")]
    with store.write() as tx:
        assert tx.flows.approve("f1", ["csrf-hash"], now=NOW, upstream_state_hash="st", binding_hash="b",
                                upstream_verifier=None)  # fmt: skip
    seen.append(_status(store, "f1"))
    with store.write() as tx:
        assert tx.flows.consume_upstream_state(["st"], now=NOW) is not None
    seen.append(_status(store, "f1"))
    with store.write() as tx:
        tx.flows.finish("f1", FlowStatus.COMPLETED)
    seen.append(_status(store, "f1"))
    assert seen == [FlowStatus.PENDING, FlowStatus.APPROVED, FlowStatus.CALLBACK, FlowStatus.COMPLETED]
    assert all(check_transition(a, b) for a, b in itertools.pairwise(seen))


def test_final_states_have_no_way_out(store: SqlStore) -> None:
    with store.write() as tx:
        tx.flows.create(_flow("f2"))
        assert tx.flows.deny("f2", ["csrf-hash"], now=NOW) is not None
        # Denied: no approval, no upstream state, no finish can move it.
        assert tx.flows.approve("f2", ["csrf-hash"], now=NOW, upstream_state_hash="st2", binding_hash="b",
                                upstream_verifier=None) is None  # fmt: skip
        tx.flows.finish("f2", FlowStatus.COMPLETED)
    assert _status(store, "f2") is FlowStatus.DENIED
    finals = {FlowStatus.DENIED, FlowStatus.COMPLETED, FlowStatus.FAILED}
    assert not any(source in finals for source, _ in TRANSITIONS)
    assert not any(target is FlowStatus.APPROVED and source is not FlowStatus.PENDING for source, target in TRANSITIONS)
