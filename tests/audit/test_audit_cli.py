"""``deputy audit verify | checkpoint | export | show`` on a real configuration, key ring and SQLite file."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from audit_support import NOW, execute, write_config

from deputy.audit.log import audit
from deputy.cli import main
from deputy.keys import KeyRing
from deputy.storage.sql.engine import Database
from deputy.storage.sql.store import SqlStore
from support import Env, make_env

# (at offset, event, client, user, tool)
EVENTS = [
    (5, "consent.approved", "dcl_a", "usr_a", None),
    (10, "tool.called", "dcl_a", "usr_a", "contacts_list"),
    (20, "tool.called", "dcl_a", "usr_a", "deals_create"),
    (30, "tool.called", "dcl_b", "usr_a", "contacts_list"),
    (40, "tool.called", "dcl_a", "usr_b", "notes_list"),
]


@dataclass
class Deployment:
    config: Path
    db: Database
    store: SqlStore
    ring: KeyRing
    tmp_path: Path

    def run(self, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
        code = main(["audit", *args, "--config", str(self.config)])
        out, err = capsys.readouterr()
        return code, out, err

    def append(self, at: int, event: str, client_id: str | None, user_id: str | None, tool: str | None) -> None:
        with self.store.write() as tx:
            extra = {"tool": tool} if tool else {}
            audit(tx.audit, event, at=at, client_id=client_id, user_id=user_id, **extra)


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    keys = tmp_path / "keys.json"
    ring = KeyRing.generate(NOW)
    ring.save(keys)
    url = f"sqlite:///{tmp_path / 'deputy.db'}"
    db = Database(url)
    db.migrate()
    d = Deployment(write_config(tmp_path, url, keys), db, SqlStore(db, ring), ring, tmp_path)
    for offset, event, client_id, user_id, tool in EVENTS:
        d.append(NOW + offset, event, client_id, user_id, tool)
    yield d
    db.dispose()


def iso(at: int) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_verify_reports_an_intact_chain(deployment: Deployment, capsys: pytest.CaptureFixture[str]) -> None:
    assert deployment.run(capsys, "verify") == (0, "5 entries verified, chain intact\n", "")


def test_verify_names_the_first_bad_entry(deployment: Deployment, capsys: pytest.CaptureFixture[str]) -> None:
    execute(deployment.db, "UPDATE audit_events SET client_id = 'dcl_z' WHERE seq = 3")
    code, out, _ = deployment.run(capsys, "verify")
    assert code == 1
    assert out.startswith("audit log NOT intact: first bad entry seq 3 (modified): ")
    assert "2 entries verified before it" in out


def test_verify_reports_a_deleted_tail(deployment: Deployment, capsys: pytest.CaptureFixture[str]) -> None:
    execute(deployment.db, "DELETE FROM audit_events WHERE seq >= 4")
    code, out, _ = deployment.run(capsys, "verify")
    assert code == 1 and "first bad entry seq 4 (truncated)" in out


def test_a_checkpoint_kept_elsewhere_catches_a_rollback(
    deployment: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    with deployment.db.engine.connect() as conn:
        earlier = dict(conn.exec_driver_sql("SELECT seq, mac, key_id, head_mac FROM audit_head").mappings().one())
    deployment.append(NOW + 50, "tool.called", "dcl_a", "usr_a", "deals_delete")
    code, line, _ = deployment.run(capsys, "checkpoint")
    assert code == 0
    checkpoint = json.loads(line)
    assert checkpoint["seq"] == 6 and set(checkpoint) == {"seq", "mac", "key_id", "head_mac"}
    kept = deployment.tmp_path / "checkpoints.jsonl"
    kept.write_text(line, encoding="utf-8")
    assert deployment.run(capsys, "verify", "--checkpoint", str(kept))[:2] == (
        0, "6 entries verified, chain intact; checkpoint at entry 6 present\n")  # fmt: skip
    # Roll the log back to the earlier state, head included: consistent on its own, caught by the checkpoint.
    execute(deployment.db, "DELETE FROM audit_events WHERE seq > 5")
    execute(deployment.db, "UPDATE audit_head SET seq = :seq, mac = :mac, key_id = :key_id, head_mac = :head_mac",
            **earlier)  # fmt: skip
    assert deployment.run(capsys, "verify")[0] == 0
    code, out, _ = deployment.run(capsys, "verify", "--checkpoint", str(kept))
    assert code == 1 and "first bad entry seq 6 (truncated)" in out


def test_a_forged_checkpoint_is_a_usage_error(deployment: Deployment, capsys: pytest.CaptureFixture[str]) -> None:
    _, line, _ = deployment.run(capsys, "checkpoint")
    forged = {**json.loads(line), "seq": 99}
    path = deployment.tmp_path / "forged.json"
    path.write_text(json.dumps(forged), encoding="utf-8")
    code, _, err = deployment.run(capsys, "verify", "--checkpoint", str(path))
    assert code == 2 and "checkpoint" in err


def test_checkpoint_of_an_empty_log_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    keys = tmp_path / "keys.json"
    KeyRing.generate(NOW).save(keys)
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    Database(url).migrate()
    assert main(["audit", "checkpoint", "--config", str(write_config(tmp_path, url, keys))]) == 1
    assert "no chained entry" in capsys.readouterr().err


def test_export_streams_json_lines_since_a_time(deployment: Deployment, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = deployment.run(capsys, "export", "--since", str(NOW + 20), "--format", "jsonl")
    assert code == 0
    lines = [json.loads(line) for line in out.splitlines()]
    assert [e["seq"] for e in lines] == [3, 4, 5]
    assert lines[0] == {**lines[0], "at": NOW + 20, "time": iso(NOW + 20), "event": "tool.called",
                        "client_id": "dcl_a", "user_id": "usr_a", "detail": {"tool": "deals_create"}}  # fmt: skip
    assert all(len(e["mac"]) == 64 and e["key_id"] == deployment.ring.audit[-1].kid for e in lines)
    _, window, _ = deployment.run(capsys, "export", "--since", iso(NOW + 10), "--until", iso(NOW + 30))
    assert [json.loads(line)["seq"] for line in window.splitlines()] == [2, 3, 4]


def test_an_export_verifies_with_nothing_but_the_documented_format(
    deployment: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    """A third party holding the audit key re-computes every MAC from the export alone (docs/audit.md)."""
    _, out, _ = deployment.run(capsys, "export", "--since", "0")
    key = deployment.ring.audit[-1].key
    prev = bytes(32)
    for line in out.splitlines():
        e = json.loads(line)
        entry = {k: e[k] for k in ("seq", "at", "event", "outcome", "client_id", "user_id", "request_id", "key_id")}
        entry["detail"] = json.dumps(e["detail"], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        message = json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        mac = hmac.new(key, prev + message, hashlib.sha256).digest()
        assert mac.hex() == e["mac"]
        prev = mac


def test_show_answers_whether_a_client_touched_a_users_data(
    deployment: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = deployment.run(capsys, "show", "--client", "dcl_a", "--user", "usr_a")
    lines = out.splitlines()
    assert code == 0
    assert lines[0].split() == ["TIME", "EVENT", "TOOL/OPERATION", "OUTCOME"]
    assert [line.split() for line in lines[1:-1]] == [
        [iso(NOW + 5), "consent.approved", "-", "ok"],
        [iso(NOW + 10), "tool.called", "contacts_list", "ok"],
        [iso(NOW + 20), "tool.called", "deals_create", "ok"],
    ]
    assert lines[-1] == f"client dcl_a: 3 events for user usr_a between {iso(NOW + 5)} and {iso(NOW + 20)}"


def test_show_says_so_when_there_is_nothing(deployment: Deployment, capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = deployment.run(capsys, "show", "--client", "dcl_b", "--user", "usr_b")
    assert out.splitlines()[-1] == "no events for client dcl_b and user usr_b"
    _, since, _ = deployment.run(capsys, "show", "--user", "usr_a", "--since", str(NOW + 25))
    assert since.splitlines()[-1] == f"user usr_a: 1 event between {iso(NOW + 30)} and {iso(NOW + 30)}"
    assert "dcl_b" in since.splitlines()[1]  # the client column is shown when no client is asked for


def test_a_missing_database_is_a_configuration_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    keys = tmp_path / "keys.json"
    KeyRing.generate(NOW).save(keys)
    config = write_config(tmp_path, f"sqlite:///{tmp_path / 'absent.db'}", keys)
    assert main(["audit", "verify", "--config", str(config)]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "absent.db").exists()


@pytest.mark.anyio
async def test_show_after_a_real_authorization_flow(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env: Env = make_env(tmp_path)
    try:
        client, _ = await env.full_flow()
        with env.ctx.store.read() as tx:
            user_id = tx.audit.events("code.redeemed")[0]["user_id"]
    finally:
        env.ctx.store.db.dispose()
    config = write_config(tmp_path, env.settings.storage.url, env.settings.keys.file)
    assert main(["audit", "verify", "--config", str(config)]) == 0
    assert capsys.readouterr().out.endswith(" entries verified, chain intact\n")
    main(["audit", "show", "--config", str(config), "--client", client["client_id"], "--user", str(user_id)])
    out = capsys.readouterr().out.splitlines()
    events = [line.split()[1] for line in out[1:-1]]
    assert {"consent.recorded", "callback.ok", "code.issued", "code.redeemed"} <= set(events)
    assert out[-1].startswith(f"client {client['client_id']}: {len(events)} events for user {user_id} between ")
