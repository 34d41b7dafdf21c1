"""The signed intent digest and the ring's intent keys: rotation keeps confirmations verifying, nothing else
verifies, and an old ring without an intent key is handled without silently changing the file."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from joserfc import jws
from joserfc.jwk import OKPKey

from deputy.app import build_context
from deputy.cli import main
from deputy.config import load_settings
from deputy.errors import ConfigError
from deputy.intents.digest import DigestError, IntentDigest, sign_digest, verify_digest
from deputy.intents.keyring import ensure_intent_key
from deputy.keys import KeyRing
from support import deputy_settings

DIGEST = IntentDigest(
    intent_hash="ab" * 32, operation="contacts_create", session_id="grt_1", expires_at=1300, draft_id="drf_1",
    confirmed_at=1000,
)  # fmt: skip


def test_a_digest_verifies_under_every_intent_key_of_a_rotated_ring() -> None:
    ring = KeyRing.generate(1)
    old = sign_digest(DIGEST, ring.current_intent)  # type: ignore[arg-type]
    rotated = ring.rotated("intent", 2)
    new = sign_digest(DIGEST, rotated.current_intent)  # type: ignore[arg-type]
    assert rotated.current_intent is not None and rotated.current_intent.kid != ring.intent[0].kid
    assert verify_digest(old, rotated.intent) == DIGEST
    assert verify_digest(new, rotated.intent) == DIGEST
    with pytest.raises(DigestError):
        verify_digest(new, ring.intent)  # the old ring does not know the new key


def test_a_digest_signed_by_a_foreign_key_is_refused() -> None:
    ring, foreign = KeyRing.generate(1), KeyRing.generate(1)
    with pytest.raises(DigestError):
        verify_digest(sign_digest(DIGEST, foreign.current_intent), ring.intent)  # type: ignore[arg-type]
    # the foreign key claiming one of the ring's key ids does not help
    ours = ring.current_intent
    assert ours is not None
    other = OKPKey.generate_key("Ed25519", private=True)
    header = {"alg": "Ed25519", "kid": ours.kid, "typ": "deputy-intent+jws"}
    forged = jws.serialize_compact(header, json.dumps(DIGEST.__dict__).encode(), other, algorithms=["Ed25519"])
    with pytest.raises(DigestError):
        verify_digest(forged, ring.intent)


def test_an_edited_payload_or_header_is_refused() -> None:
    ring = KeyRing.generate(1)
    token = sign_digest(DIGEST, ring.current_intent)  # type: ignore[arg-type]
    header, payload, signature = token.split(".")
    edited = json.loads(base64.urlsafe_b64decode(payload + "=="))
    edited["session_id"] = "grt_attacker"
    forged_payload = base64.urlsafe_b64encode(json.dumps(edited).encode()).rstrip(b"=").decode()
    for bad in (f"{header}.{forged_payload}.{signature}", token[:-4] + "AAAA", "", "x" * 5000, "a.b.c"):
        with pytest.raises(DigestError):
            verify_digest(bad, ring.intent)


def test_a_token_of_another_type_is_refused_even_if_signed_by_the_ring() -> None:
    ring = KeyRing.generate(1)
    key = ring.current_intent
    assert key is not None
    header = {"alg": "Ed25519", "kid": key.kid, "typ": "JWT"}
    other_type = jws.serialize_compact(header, json.dumps(DIGEST.__dict__).encode(), key.key, algorithms=["Ed25519"])
    with pytest.raises(DigestError):
        verify_digest(other_type, ring.intent)


def test_a_ring_keeps_its_intent_keys_through_the_file(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    ring = KeyRing.generate(1).rotated("intent", 2)
    ring.save(path)
    again = KeyRing.load(path, create_if_missing=False, now=3)
    assert again.kids()["intent"] == ring.kids()["intent"] and len(again.intent) == 2
    token = sign_digest(DIGEST, ring.current_intent)  # type: ignore[arg-type]
    assert verify_digest(token, again.intent) == DIGEST


def test_a_malformed_intent_key_stops_loading(tmp_path: Path) -> None:
    data = KeyRing.generate(1).to_dict()
    data["intent"][0]["private_jwk"].pop("d")  # type: ignore[index]
    with pytest.raises(ConfigError):
        KeyRing.from_dict(data)


def _old_ring(path: Path) -> None:
    """A ring as written before intents existed: no ``intent`` list at all."""
    data = KeyRing.generate(1).to_dict()
    del data["intent"]
    path.write_text(json.dumps(data))


def test_an_old_ring_without_an_intent_key_stops_start_up_with_the_fix(tmp_path: Path) -> None:
    settings = deputy_settings(tmp_path, keys={"create_if_missing": False})
    _old_ring(settings.keys.file)
    before = settings.keys.file.read_text()
    ring = KeyRing.load(settings.keys.file, create_if_missing=False, now=5)
    assert ring.current_intent is None  # it loads
    with pytest.raises(ConfigError) as refused:
        ensure_intent_key(ring, settings, now=5)
    assert "deputy keys rotate --purpose intent" in str(refused.value)
    assert settings.keys.file.read_text() == before  # the file was not touched


def test_an_old_ring_is_completed_in_its_file_when_deputy_may_create_keys(tmp_path: Path) -> None:
    settings = deputy_settings(tmp_path)  # create_if_missing, as the demo runs
    _old_ring(settings.keys.file)
    ctx = build_context(settings)
    try:
        ring = KeyRing.load(settings.keys.file, create_if_missing=False, now=5)
        assert ctx.keys.current_intent is None  # build_context itself changes nothing
        ensure_intent_key(ctx.keys, settings, now=5)
        assert ctx.keys.current_intent is not None
        assert KeyRing.load(settings.keys.file, create_if_missing=False, now=6).kids()["intent"] == [
            ctx.keys.current_intent.kid
        ]
        assert ring.kids()["signing"] == ctx.keys.kids()["signing"]  # nothing else changed
    finally:
        ctx.store.db.dispose()


def test_with_intents_disabled_an_old_ring_is_left_alone(tmp_path: Path) -> None:
    settings = deputy_settings(tmp_path, keys={"create_if_missing": False}, intents={"enabled": False})
    _old_ring(settings.keys.file)
    ring = KeyRing.load(settings.keys.file, create_if_missing=False, now=5)
    ensure_intent_key(ring, settings, now=5)
    assert ring.current_intent is None


def test_keys_rotate_adds_the_missing_intent_key_and_start_up_then_succeeds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ring_file = tmp_path / "keys.json"
    _old_ring(ring_file)
    config = tmp_path / "deputy.toml"
    config.write_text(
        f'[storage]\nurl = "sqlite:///{tmp_path / "d.db"}"\n[keys]\nfile = "{ring_file}"\n[upstream]\nclient_id = "c"\n'
        'authorize_url = "https://up.example/a"\ntoken_url = "https://up.example/t"\n'
        'userinfo_url = "https://up.example/u"\n[scopes.read]\ndescription = "Read"\n'
    )
    settings = load_settings(config)
    with pytest.raises(ConfigError):
        ensure_intent_key(KeyRing.load(ring_file, create_if_missing=False, now=1), settings, now=1)
    assert main(["keys", "rotate", "--config", str(config), "--purpose", "intent"]) == 0
    assert "added intent key" in capsys.readouterr().out
    ring = KeyRing.load(ring_file, create_if_missing=False, now=2)
    ensure_intent_key(ring, settings, now=2)
    assert len(ring.intent) == 1
