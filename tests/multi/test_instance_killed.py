"""One instance killed with SIGKILL in the middle of a mixed workload; the other keeps serving, nothing is lost.

The workload (tests/workload.py: flows, refreshes, tool calls, revocations) goes through HAProxy. Once a fixed
number of operations has completed, instance i0 is killed. Operations that were under way at that moment may fail
(a request an instance died in the middle of is not retried: it may have been a POST that took effect); they are
counted and printed, not hidden. Every operation that *started* after the kill must succeed. Afterwards, every
acknowledgement must still hold: each registration exists, each flow's consent is recorded, each family's newest
access token is accepted and its newest refresh token rotates, each acknowledged request left its audit entry,
and ``deputy audit verify`` passes.
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy import Engine, bindparam, select

from clientside import call_tool, refresh, tool_result
from cluster import Cluster
from deputy.storage.sql.schema import audit_events, clients, consents, users
from workload import Outcome, Workload

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]

WORKERS = 6
OPS_PER_WORKER = 14
KILL_AFTER = 20  # completed operations
SECONDS = 120.0  # an upper bound, not an expectation


async def test_an_instance_killed_under_load_loses_nothing_that_was_acknowledged(
    cluster: Cluster, cluster_db: Engine
) -> None:
    victim, survivor = cluster.instances
    killed_at: list[float] = []

    def watch(outcome: Outcome) -> None:
        if not killed_at and sum(o.ok for o in load.outcomes) >= KILL_AFTER:
            killed_at.append(time.monotonic())
            victim.kill()  # SIGKILL and reap: a few milliseconds, inline on purpose (nothing else runs meanwhile)

    load = Workload(
        cluster.url, cluster.client, workers=WORKERS, max_ops=OPS_PER_WORKER, seconds=SECONDS, on_outcome=watch
    )
    await load.run()
    assert killed_at, f"the workload ended before the kill: {load.failures()[:3]}"
    kill = killed_at[0]
    straddling = [o for o in load.failures() if o.started < kill]
    after = [o for o in load.outcomes if o.started >= kill]
    print(
        f"\n{len(load.outcomes)} operations, {len(after)} after the kill; failed while under way at the kill: "
        f"{len(straddling)} {[(o.op, o.detail[:60]) for o in straddling]}"
    )
    assert not victim.alive() and survivor.alive()
    assert after and all(o.ok for o in after), [o for o in after if not o.ok]
    assert {o.instance for o in after if o.instance} == {survivor.name}

    await _acknowledgements_hold(cluster, cluster_db, load)
    verified = cluster.audit_verify()
    assert verified.returncode == 0, verified.stdout + verified.stderr


async def _acknowledgements_hold(cluster: Cluster, db: Engine, load: Workload) -> None:
    with db.connect() as conn:
        stored = set(
            conn.execute(
                select(clients.c.client_id).where(clients.c.client_id.in_(bindparam("ids", expanding=True))),
                {"ids": load.registrations},
            ).scalars()
        )
        consented = set(
            conn.execute(
                select(consents.c.client_id, users.c.upstream_subject).join(
                    users, users.c.user_id == consents.c.user_id
                )
            )
        )
        audited = set(
            conn.execute(select(audit_events.c.request_id).where(audit_events.c.request_id.like("wl-%"))).scalars()
        )
    assert stored == set(load.registrations)
    subjects = {"alice": "acme-u-1001", "bob": "acme-u-1002"}
    assert {(f.client_id, subjects[f.user]) for f in load.families} <= consented
    assert set(load.acknowledged) <= audited, set(load.acknowledged) - audited
    async with cluster.client() as http:
        for family in load.families:
            if family.uncertain or family.revoked:
                continue
            answer = await call_tool(http, cluster.url, family.access_token, "deputy_whoami")
            assert not tool_result(answer)[0]
            rotated = await refresh(http, cluster.url, family.client_id, family.refresh_token)
            assert rotated.status_code == 200, rotated.text
