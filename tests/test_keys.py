"""The key ring: rotation keeps old material verifying; a damaged ring stops start-up."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deputy.errors import ConfigError
from deputy.keys import KeyRing
from deputy.oauth.tokens import mint_access_token, verify_access_token


def test_rotated_signing_key_still_verifies_old_tokens() -> None:
    ring = KeyRing.generate(1)
    old, _ = mint_access_token(
        ring.current_signing,
        issuer="https://i",
        subject="u",
        audience="https://i/mcp",
        client_id="c",
        scopes=("a",),
        grant_id="g",
        now=100,
        ttl=600,
    )
    rotated = ring.rotated("signing", 2)
    assert rotated.current_signing.kid != ring.current_signing.kid
    claims = verify_access_token(old, rotated.verify_set, issuer="https://i", audience="https://i/mcp", now=200)
    assert claims.subject == "u"
    assert len(rotated.public_jwks()["keys"]) == 2  # type: ignore[arg-type]


def test_hmac_rotation_keeps_old_hashes_checkable() -> None:
    ring = KeyRing.generate(1)
    stored = ring.keyed_hash("code", "value")
    rotated = ring.rotated("hmac", 2)
    assert rotated.keyed_hash("code", "value") != stored
    assert rotated.check_keyed_hash("code", "value", stored)
    assert not rotated.check_keyed_hash("code", "other", stored)
    assert not rotated.check_keyed_hash("refresh", "value", stored)  # purposes are domain-separated


def test_round_trip_through_the_file(tmp_path: Path) -> None:
    path = tmp_path / "k.json"
    ring = KeyRing.load(path, create_if_missing=True, now=5)
    again = KeyRing.load(path, create_if_missing=False, now=6)
    assert again.current_signing.kid == ring.current_signing.kid
    assert again.keyed_hash("p", "v") == ring.keyed_hash("p", "v")


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.pop("vault"),
        lambda d: d.__setitem__("version", 2),
        lambda d: d["hmac"][0].__setitem__("key", "short"),
        lambda d: d["signing"][0]["private_jwk"].pop("d"),
        lambda d: d["audit"].clear(),
    ],
)
def test_damaged_ring_is_a_config_error(tmp_path: Path, mutate: object) -> None:
    path = tmp_path / "k.json"
    KeyRing.load(path, create_if_missing=True, now=5)
    data = json.loads(path.read_text())
    mutate(data)  # type: ignore[operator]
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError):
        KeyRing.load(path, create_if_missing=False, now=6)


def test_missing_ring_is_not_created_unless_allowed(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        KeyRing.load(tmp_path / "absent.json", create_if_missing=False, now=1)
    assert not (tmp_path / "absent.json").exists()
