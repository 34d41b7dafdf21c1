"""The chain format and the verifier, pure: rows are built in memory exactly as the store writes them."""

from __future__ import annotations

import hmac
import json
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deputy.audit.chain import (
    GENESIS,
    AuditKeys,
    Head,
    Problem,
    Row,
    canonical_json,
    entry_json,
    entry_mac,
    head_mac,
    sign_head,
    verify,
)
from deputy.errors import ConfigError
from deputy.keys import SecretKey

NOW = 1_800_000_000
K1 = SecretKey("k1", b"\x01" * 32, NOW)
K2 = SecretKey("k2", b"\x02" * 32, NOW + 10)


def chain(
    n: int, *, start: int = 1, prev: bytes = GENESIS, key: SecretKey = K1, event: str = "tool.called"
) -> list[Row]:
    rows: list[Row] = []
    for seq in range(start, start + n):
        detail = canonical_json({"tool": f"t{seq}", "n": seq})
        fields = (seq, NOW + seq, event, "ok", "dcl_1", "usr_1", f"req-{seq}", detail)
        mac = entry_mac(key.key, prev, entry_json(*fields, key.kid))
        rows.append((*fields, key.kid, mac.hex()))
        prev = mac
    return rows


def head_of(rows: list[Row], key: SecretKey = K1) -> Head:
    last = rows[-1]
    assert last[9] is not None
    return sign_head(key, last[0], bytes.fromhex(last[9]))


def with_field(row: Row, index: int, value: object) -> Row:
    items = list(row)
    items[index] = value
    return tuple(items)  # type: ignore[return-value]


KEYS = AuditKeys([K1])


def test_an_intact_chain_verifies() -> None:
    rows = chain(50)
    report = verify(rows, head_of(rows), KEYS)
    assert report.ok
    assert (report.verified, report.legacy, report.last_seq) == (50, 0, 50)


def test_an_empty_log_with_an_unsigned_head_verifies() -> None:
    report = verify([], Head(0), KEYS)
    assert report.ok and report.verified == 0


@pytest.mark.parametrize("index", [1, 2, 3, 4, 5, 6, 7])  # at, event, outcome, client, user, request id, detail
def test_changing_any_field_of_a_middle_entry_is_modified_at_its_seq(index: int) -> None:
    rows = chain(10)
    rows[4] = with_field(rows[4], index, 0 if index == 1 else "tampered")
    report = verify(rows, head_of(rows), KEYS)
    assert (report.problem, report.bad_seq, report.verified) == (Problem.MODIFIED, 5, 4)


def test_relabelling_an_entry_with_another_key_id_is_detected() -> None:
    rows = chain(5)
    rows[2] = with_field(rows[2], 8, "k2")
    report = verify(rows, head_of(rows), AuditKeys([K1, K2]))
    assert (report.problem, report.bad_seq) == (Problem.MODIFIED, 3)


def test_deleting_a_middle_entry_is_a_gap() -> None:
    rows = chain(10)
    del rows[4]
    report = verify(rows, head_of(rows), KEYS)
    assert (report.problem, report.bad_seq) == (Problem.DELETED_OR_REORDERED, 5)


def test_deleting_an_entry_and_renumbering_the_rest_is_detected() -> None:
    rows = chain(10)
    rows = rows[:4] + [with_field(r, 0, r[0] - 1) for r in rows[5:]]
    report = verify(rows, head_of(chain(10)), KEYS)
    assert (report.problem, report.bad_seq) == (Problem.DELETED_OR_REORDERED, 5)


def test_swapping_two_entries_contents_is_a_reorder() -> None:
    rows = chain(10)
    a, b = rows[3], rows[6]
    rows[3], rows[6] = (a[0], *b[1:]), (b[0], *a[1:])  # seqs stay in place, everything else moves
    report = verify(rows, head_of(chain(10)), KEYS)
    assert (report.problem, report.bad_seq) == (Problem.DELETED_OR_REORDERED, 4)


def test_deleting_the_first_entry_of_the_chain_is_detected() -> None:
    rows = chain(5)[1:]
    report = verify(rows, head_of(chain(5)), KEYS)
    assert (report.problem, report.bad_seq) == (Problem.DELETED_OR_REORDERED, 1)


@pytest.mark.parametrize("k", [1, 3])
def test_deleting_the_last_entries_is_caught_by_the_head(k: int) -> None:
    rows = chain(10)
    head = head_of(rows)
    report = verify(rows[:-k], head, KEYS)
    assert report.problem is Problem.TRUNCATED
    assert report.bad_seq == 11 - k
    assert report.verified == 10 - k


def test_deleting_every_entry_is_caught_by_the_head() -> None:
    report = verify([], head_of(chain(3)), KEYS)
    assert (report.problem, report.bad_seq) == (Problem.TRUNCATED, 3)


def test_a_forged_head_after_truncation_is_refused() -> None:
    rows = chain(10)[:7]
    last_mac = rows[-1][9]
    assert last_mac is not None
    forged = Head(7, last_mac, "k1", hmac.digest(b"\x09" * 32, b"guess", "sha256").hex())
    report = verify(rows, forged, KEYS)
    assert (report.problem, report.reason) == (Problem.TRUNCATED, "the head checkpoint's signature is invalid")


def test_an_unsigned_head_with_entries_is_a_rollback() -> None:
    rows = chain(3)
    assert verify(rows, Head(0), KEYS).problem is Problem.TRUNCATED


def test_a_head_behind_the_log_is_a_rollback() -> None:
    rows = chain(6)
    report = verify(rows, head_of(rows[:4]), KEYS)
    assert (report.problem, report.bad_seq) == (Problem.TRUNCATED, 5)


def test_an_entry_under_a_retired_key_is_reported_as_unknown_key() -> None:
    rows = chain(3) + chain(3, start=4, prev=bytes.fromhex(chain(3)[-1][9] or ""), key=K2)
    report = verify(rows, head_of(rows, K2), KEYS)  # the ring lost K2
    assert (report.problem, report.bad_seq) == (Problem.UNKNOWN_KEY, 4)


def test_entries_before_and_after_an_audit_key_rotation_verify() -> None:
    first = chain(4)
    rows = first + chain(4, start=5, prev=bytes.fromhex(first[-1][9] or ""), key=K2)
    report = verify(rows, head_of(rows, K2), AuditKeys([K1, K2]))
    assert report.ok and report.verified == 8


def test_legacy_entries_before_the_chain_are_counted_not_verified() -> None:
    legacy: list[Row] = [(seq, NOW, "code.issued", "ok", None, None, None, "{}", None, None) for seq in (1, 2, 3)]
    rows = legacy + chain(4, start=4)
    report = verify(rows, head_of(rows), KEYS)
    assert report.ok
    assert (report.verified, report.legacy, report.last_seq) == (4, 3, 7)


def test_an_unchained_entry_inside_the_chain_is_tampering() -> None:
    rows = chain(5)
    rows[2] = with_field(with_field(rows[2], 9, None), 8, None)
    report = verify(rows, head_of(rows), KEYS)
    assert (report.problem, report.bad_seq) == (Problem.MODIFIED, 3)


def test_a_checkpoint_catches_a_rollback_of_both_tail_and_head() -> None:
    rows = chain(10)
    checkpoint = head_of(rows)
    rolled_back = rows[:6]
    assert verify(rolled_back, head_of(rolled_back), KEYS).ok  # the documented limit without a checkpoint
    report = verify(rolled_back, head_of(rolled_back), KEYS, checkpoint=checkpoint)
    assert (report.problem, report.bad_seq) == (Problem.TRUNCATED, 10)


def test_a_checkpoint_catches_a_rewritten_history() -> None:
    checkpoint = head_of(chain(10)[:5])
    other = chain(10, event="tool.started")  # a different, internally valid history (e.g. an older backup regrown)
    assert verify(other, head_of(other), KEYS).ok
    report = verify(other, head_of(other), KEYS, checkpoint=checkpoint)
    assert (report.problem, report.bad_seq) == (Problem.TRUNCATED, 5)


def test_a_checkpoint_in_the_intact_log_passes() -> None:
    rows = chain(10)
    report = verify(rows, head_of(rows), KEYS, checkpoint=head_of(rows[:3]))
    assert report.ok


def test_a_checkpoint_not_signed_by_the_ring_is_refused() -> None:
    rows = chain(4)
    forged = replace(head_of(rows), head_mac="00" * 32)
    with pytest.raises(ConfigError):
        verify(rows, head_of(rows), KEYS, checkpoint=forged)


def test_head_mac_is_domain_separated_from_entry_macs() -> None:
    rows = chain(2)
    mac = bytes.fromhex(rows[1][9] or "")
    assert head_mac(K1.key, 2, mac) != entry_mac(K1.key, GENESIS, "")
    assert head_mac(K1.key, 2, mac) == hmac.digest(K1.key, b"deputy-audit-head|" + (2).to_bytes(8, "big") + mac,
                                                   "sha256")  # fmt: skip


def test_head_json_round_trips_and_rejects_junk() -> None:
    head = head_of(chain(2))
    assert Head.from_json(json.loads(json.dumps(head.to_json()))) == head
    for junk in ([], {"seq": "1", "mac": "a", "key_id": "k", "head_mac": "b"}, {"seq": 1}, {"seq": True}):
        with pytest.raises(ConfigError):
            Head.from_json(junk)


_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=30)
_opt = st.none() | _text


@given(st.integers(0, 2**62), st.integers(0, 2**40), _text, _text, _opt, _opt, _opt,
       st.dictionaries(_text, st.integers() | _text | st.floats(allow_nan=False)), _text)  # fmt: skip
def test_entry_json_is_the_canonical_json_of_the_entry(
    seq: int, at: int, event: str, outcome: str, client_id: str | None, user_id: str | None,
    request_id: str | None, detail: dict[str, object], key_id: str,
) -> None:  # fmt: skip
    text = canonical_json(detail)
    obj = {"seq": seq, "at": at, "event": event, "outcome": outcome, "client_id": client_id, "user_id": user_id,
           "request_id": request_id, "detail": text, "key_id": key_id}  # fmt: skip
    assert entry_json(seq, at, event, outcome, client_id, user_id, request_id, text, key_id) == canonical_json(obj)


def test_canonical_json_is_sorted_compact_and_unescaped() -> None:
    assert canonical_json({"b": 1, "a": "é\n"}) == '{"a":"é\\n","b":1}'


@pytest.mark.parametrize(
    ("index", "value"),
    [(1, NOW + 3.5), (1, float(NOW + 3)), (0, 3.0), (2, b"tool.called"), (9, "é" * 64), (9, b"\x00" * 32), (9, 7)],
)
def test_values_of_the_wrong_type_are_tampering_not_a_crash(index: int, value: object) -> None:
    """A database with loose typing (SQLite) can hold a REAL in an INTEGER column or a BLOB in a TEXT one."""
    rows = chain(5)
    rows[2] = with_field(rows[2], index, value)
    report = verify(rows, head_of(chain(5)), KEYS)
    assert report.problem is not None and report.bad_seq == 3


def test_a_head_with_junk_values_is_refused_not_a_crash() -> None:
    rows = chain(3)
    for junk in (replace(head_of(rows), mac="zz"), replace(head_of(rows), head_mac="é" * 64),
                 replace(head_of(rows), seq=-1)):  # fmt: skip
        assert verify(rows, junk, KEYS).problem is Problem.TRUNCATED
