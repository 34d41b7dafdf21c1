"""Vault key rotation with instances running, start-up key checks, and corrupt entries isolated.

Everything runs against the real app on a real SQLite file with the Acme CRM upstream in process; the CLI is the
real ``deputy`` entry point on a config file naming the same database and key ring.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from broker_support import call_tool, corrupt_row, vault_rows, write_config

from deputy.app import build_context
from deputy.broker.rotation import KeyRingWatcher, reencrypt_pass
from deputy.broker.vault import broker_vault
from deputy.cli import main
from deputy.errors import ConfigError
from deputy.keys import KeyRing
from support import ALICE, BOB, Env, deputy_settings, make_mcp_env, minimal_config

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]


async def _signed_in(env: Env, user: tuple[str, str] = ALICE) -> tuple[str, str]:
    """(access token, Deputy user id) after a full flow for ``user``."""
    _, tokens = await env.full_flow(user=user, scope="crm.read")
    who = await call_tool(env.app, tokens["access_token"], "deputy_whoami")
    return tokens["access_token"], who["structuredContent"]["user"]


def _status(config: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    capsys.readouterr()
    assert main(["keys", "status", "--config", str(config), "--json"]) == 0
    status: dict[str, Any] = json.loads(capsys.readouterr().out)
    return status


def _entries(status: dict[str, Any]) -> dict[str, int]:
    return {k["kid"]: k["vault_entries"] for k in status["vault"]}


async def test_rotate_reencrypt_and_retire_while_serving(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env = make_mcp_env(tmp_path)
    config = write_config(env, tmp_path / "deputy.toml")
    async with env.app.router.lifespan_context(env.app):  # type: ignore[attr-defined]
        alice, _ = await _signed_in(env, ALICE)
        bob, _ = await _signed_in(env, BOB)
        old = env.ctx.keys.vault[-1].kid
        assert _entries(_status(config, capsys)) == {old: 4}  # access + refresh token for each user

        assert main(["keys", "rotate", "--config", str(config), "--purpose", "vault"]) == 0
        assert env.ctx.key_watcher is not None and env.ctx.key_watcher.reload_if_changed()
        new = env.ctx.keys.vault[-1].kid
        assert new != old and _entries(_status(config, capsys)) == {old: 4, new: 0}

        # Old entries still open; a refresh seals under the new key.
        assert (await call_tool(env.app, bob, "contacts_list"))["isError"] is False
        env.acme_app.state.acme_store.expire_access_tokens()  # upstream answers 401: the broker refreshes
        assert (await call_tool(env.app, alice, "contacts_list"))["isError"] is False
        assert _entries(_status(config, capsys))[new] == 2

        capsys.readouterr()
        assert main(["keys", "retire", "--config", str(config), "--kid", old]) == 2  # Bob's entries still need it
        assert "still need key" in capsys.readouterr().err

        report = reencrypt_pass(env.ctx.store, broker_vault(env.ctx.vault), now=env.clock.now())
        assert (report.reencrypted, report.quarantined, report.remaining) == (2, 0, 0)
        assert _entries(_status(config, capsys)) == {old: 0, new: 4}
        assert all(kid == new for _, _, kid in vault_rows(env))
        assert (await call_tool(env.app, bob, "contacts_list"))["isError"] is False

        assert main(["keys", "retire", "--config", str(config), "--kid", old]) == 0
        assert [k["kid"] for k in _status(config, capsys)["vault"]] == [new]
        assert (await call_tool(env.app, bob, "contacts_list"))["isError"] is False


async def test_an_instance_that_has_not_reloaded_opens_entries_under_the_new_key(tmp_path: Path) -> None:
    env = make_mcp_env(tmp_path)
    async with env.app.router.lifespan_context(env.app):  # type: ignore[attr-defined]
        token, _ = await _signed_in(env)
        other = build_context(env.settings, clock=env.clock)  # a second instance, same database and ring file
        try:
            assert other.key_watcher is not None
            ring = KeyRing.load(env.settings.keys.file, create_if_missing=False, now=0).rotated("vault", 2)
            ring.save(env.settings.keys.file)
            report = reencrypt_pass(other.store, broker_vault(other.vault), now=env.clock.now())
            assert report.reencrypted == 0  # the other instance has not looked at the file yet: nothing to do
            assert other.key_watcher.reload_if_changed()
            assert reencrypt_pass(other.store, broker_vault(other.vault), now=env.clock.now()).reencrypted == 2
        finally:
            other.store.db.dispose()
        # This instance never reloaded explicitly: meeting the unknown key id makes it re-read the ring file.
        assert len(env.ctx.keys.vault) == 1
        assert (await call_tool(env.app, token, "contacts_list"))["isError"] is False
        assert len(env.ctx.keys.vault) == 2


async def test_a_corrupt_entry_is_quarantined_and_only_its_user_reauthorizes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = make_mcp_env(tmp_path)
    config = write_config(env, tmp_path / "deputy.toml")
    async with env.app.router.lifespan_context(env.app):  # type: ignore[attr-defined]
        alice, alice_id = await _signed_in(env, ALICE)
        bob, _ = await _signed_in(env, BOB)
        corrupt_row(env, alice_id, "access_token")
        result = await call_tool(env.app, alice, "contacts_list")
        assert result["isError"] is True and "authorize again" in result["content"][0]["text"]
        assert (await call_tool(env.app, bob, "contacts_list"))["isError"] is False
        with env.ctx.store.read() as tx:
            events = tx.audit.events("vault.entry_quarantined")
        assert [(e["user_id"], e["detail"]["purpose"]) for e in events] == [(alice_id, "access_token")]
        assert _status(config, capsys)["vault_quarantined"] == 1
        assert [p for u, p, _ in vault_rows(env) if u == alice_id and p.startswith("x:access_token:")]
        # A new authorization puts a working credential back.
        alice2, _ = await _signed_in(env, ALICE)
        assert (await call_tool(env.app, alice2, "contacts_list"))["isError"] is False


async def test_reencryption_quarantines_what_it_cannot_open_and_finishes(tmp_path: Path) -> None:
    env = make_mcp_env(tmp_path)
    async with env.app.router.lifespan_context(env.app):  # type: ignore[attr-defined]
        _, alice_id = await _signed_in(env, ALICE)
        await _signed_in(env, BOB)
        corrupt_row(env, alice_id, "refresh_token")
        env.ctx.keys.adopt(env.ctx.keys.rotated("vault", 2))
        report = reencrypt_pass(env.ctx.store, broker_vault(env.ctx.vault), now=env.clock.now())
    assert (report.reencrypted, report.quarantined, report.remaining) == (3, 1, 0)


async def test_reencryption_never_overwrites_a_concurrent_refresh(tmp_path: Path) -> None:
    env = make_mcp_env(tmp_path)
    async with env.app.router.lifespan_context(env.app):  # type: ignore[attr-defined]
        await _signed_in(env)
        vault = broker_vault(env.ctx.vault)
        with env.ctx.store.read() as tx:
            (old, *_) = tx.vault.not_under("none", after=None, limit=10)
        reencrypted = vault.seal(
            user_id=old.user_id, upstream=old.upstream, purpose=old.purpose, secret="s1", expires_at=None, now=1
        )
        refreshed = vault.seal(
            user_id=old.user_id, upstream=old.upstream, purpose=old.purpose, secret="s2", expires_at=None, now=1
        )
        with env.ctx.store.write() as tx:
            tx.vault.put(refreshed)  # a refresh lands first
            assert tx.vault.replace_if_unchanged(old, reencrypted) is False
            current = tx.vault.get(old.user_id, old.upstream, old.purpose)
        assert current is not None and vault.open(current) == "s2"


async def test_start_up_refuses_a_ring_without_the_vault_key(tmp_path: Path) -> None:
    env = make_mcp_env(tmp_path)
    async with env.app.router.lifespan_context(env.app):  # type: ignore[attr-defined]
        await _signed_in(env)
    kid = env.ctx.keys.vault[-1].kid
    env.ctx.store.db.dispose()
    Path(env.settings.keys.file).rename(tmp_path / "lost.json")
    KeyRing.generate(1).save(env.settings.keys.file)  # "restored" from the wrong backup
    with pytest.raises(ConfigError, match=f"sealed with key\\(s\\) {kid}, which the key ring does not hold"):
        build_context(env.settings)


async def test_start_up_refuses_a_different_key_under_the_same_id(tmp_path: Path) -> None:
    env = make_mcp_env(tmp_path)
    async with env.app.router.lifespan_context(env.app):  # type: ignore[attr-defined]
        await _signed_in(env)
    env.ctx.store.db.dispose()
    path = Path(env.settings.keys.file)
    data = json.loads(path.read_text())
    data["vault"][0]["key"] = KeyRing.generate(1).to_dict()["vault"][0]["key"]  # type: ignore[index]
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match="does not open any of its entries"):
        build_context(env.settings)
    # Positive control: the right ring starts.
    (tmp_path / "right").mkdir()
    make_mcp_env(tmp_path / "right").ctx.store.db.dispose()


def test_start_up_with_an_empty_vault_and_a_fresh_ring(tmp_path: Path) -> None:
    ctx = build_context(deputy_settings(tmp_path))
    ctx.store.db.dispose()


def test_the_watcher_refuses_a_ring_that_drops_keys_or_is_broken(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    ring = KeyRing.generate(1).rotated("vault", 2)
    ring.save(path)
    live = KeyRing.load(path, create_if_missing=False, now=0)
    watcher = KeyRingWatcher(live, deputy_settings(tmp_path).keys)
    KeyRing(list(ring.signing), list(ring.hmac_keys), [ring.vault[-1]], list(ring.audit)).save(path)
    assert watcher.reload_if_changed() is False and len(live.vault) == 2
    path.write_text("{not json")
    assert watcher.reload_if_changed() is False and len(live.vault) == 2
    ring.rotated("vault", 3).save(path)
    assert watcher.reload_if_changed() is True and len(live.vault) == 3
    assert watcher.reload_if_changed() is False  # unchanged file: nothing to do


def test_an_inline_ring_from_the_environment_loads_and_refuses_in_place_rotation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ring = KeyRing.generate(1)
    monkeypatch.setenv("DEPUTY_KEYS__INLINE", json.dumps(ring.to_dict()))
    settings = deputy_settings(tmp_path)
    ctx = build_context(settings)
    try:
        assert ctx.keys.kids() == ring.kids()
        assert not Path(settings.keys.file).exists()
    finally:
        ctx.store.db.dispose()
    # The ring comes from DEPUTY_KEYS__INLINE, which wins over the file the configuration names.
    config = minimal_config(
        tmp_path / "deputy.toml", storage_url=settings.storage.url, keys_file=tmp_path / "none.json"
    )
    assert main(["keys", "rotate", "--config", str(config)]) == 2
    assert "cannot be changed in place" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("filename", "source", "refused"),
    [
        ("src/deputy/service/leak.py", "from deputy.broker.vault import Vault\n", True),
        ("src/deputy/resource/leak.py", "import deputy.broker.vault\n", True),
        ("src/deputy/http/leak.py", "from cryptography.hazmat.primitives.ciphers.aead import AESGCM\n", True),
        ("src/deputy/broker/fine.py", "from deputy.broker.vault import Vault\n", False),
        ("src/deputy/service/fine.py", "from deputy.broker.credentials import VaultCredentials\n", False),
    ],
)
def test_only_the_broker_may_import_the_vault(filename: str, source: str, refused: bool) -> None:
    """The CI lint step enforces invariant 6; this checks the rule itself, both ways."""
    proc = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "--select", "TID251", "--stdin-filename", filename, "-"],
        input=source,
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert ("TID251" in proc.stdout) is refused, proc.stdout
    assert (proc.returncode != 0) is refused


async def test_an_instance_without_the_new_key_retries_later_instead_of_quarantining(tmp_path: Path) -> None:
    """A rolling rotation with per-instance copies of the ring (a bind mount, or keys.inline): an instance that does
    not hold the new key yet must not take entries sealed under it for corruption."""
    env = make_mcp_env(tmp_path)
    async with env.app.router.lifespan_context(env.app):  # type: ignore[attr-defined]
        token, _ = await _signed_in(env)
        copy = tmp_path / "other" / "keys.json"
        copy.parent.mkdir()
        KeyRing.load(env.settings.keys.file, create_if_missing=False, now=0).rotated("vault", 2).save(copy)
        keys = env.settings.keys.model_copy(update={"file": copy})
        other = build_context(env.settings.model_copy(update={"keys": keys}), clock=env.clock)
        try:
            assert reencrypt_pass(other.store, broker_vault(other.vault), now=env.clock.now()).reencrypted == 2
        finally:
            other.store.db.dispose()
        env.app.state.mcp.credentials._sealed.clear()  # type: ignore[attr-defined]  (as after SEALED_TTL)
        waiting = await call_tool(env.app, token, "contacts_list")
        assert waiting["isError"] is True and "retry" in waiting["content"][0]["text"]
        assert not [p for _, p, _ in vault_rows(env) if p.startswith("x:")]  # nothing quarantined
        env.ctx.keys.adopt(KeyRing.load(copy, create_if_missing=False, now=0))  # this instance gets the key
        assert (await call_tool(env.app, token, "contacts_list"))["isError"] is False
