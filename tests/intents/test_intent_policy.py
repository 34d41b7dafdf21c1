"""The ``[intents]`` policy and the pure commit checks."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from deputy.config import IntentSettings
from deputy.demo.runner import ACME_TOOLS
from deputy.errors import ConfigError
from deputy.intents.commit import CommitAttempt, check_commit
from deputy.intents.digest import IntentDigest
from deputy.intents.models import Draft, DraftStatus
from deputy.intents.policy import build_policy
from deputy.resource.catalogue import load_catalogue

CATALOGUE = load_catalogue(ACME_TOOLS)
WRITES = {t.name for t in CATALOGUE.tools if t.kind == "write"}


def _policy(**settings: Any) -> Any:
    return build_policy(IntentSettings(**settings), CATALOGUE, ["ops-console"])


def test_by_default_every_write_tool_needs_confirmation_and_no_read_tool_does() -> None:
    policy = _policy()
    for tool in CATALOGUE.tools:
        expected = "confirm" if tool.kind == "write" else "direct"
        assert policy.decide(tool.name, {}, "dcl_any") == expected
    assert {n for n in WRITES if policy.guards(n)} == WRITES


def test_disabled_means_direct() -> None:
    assert _policy(enabled=False).decide("contacts_create", {}, "dcl_any") == "direct"


def test_a_narrower_list_guards_only_the_listed_tools() -> None:
    policy = _policy(require_confirmation=["deals_update"])
    assert policy.decide("deals_update", {}, "c") == "confirm"
    assert policy.decide("contacts_create", {}, "c") == "direct"


@pytest.mark.parametrize(
    ("arguments", "decision"),
    [
        ({"amount": 10_001}, "confirm"),
        ({"amount": 10_000.5}, "confirm"),
        ({"amount": 10_000}, "direct"),
        ({"amount": 5}, "direct"),
        ({"stage": "won"}, "direct"),  # the call does not touch the amount
        ({"amount": None}, "direct"),
        ({"amount": "99999"}, "confirm"),  # not a number: confirm rather than guess
        ({"amount": True}, "confirm"),
    ],
)
def test_a_threshold_confirms_only_calls_above_it(arguments: dict[str, Any], decision: str) -> None:
    policy = _policy(thresholds={"deals_update": {"field": "amount", "above": 10_000}})
    assert policy.decide("deals_update", arguments, "c") == decision


def test_a_trusted_pre_registered_client_skips_confirmation_for_its_tools_only() -> None:
    policy = _policy(trusted_clients={"ops-console": ["notes_create"]})
    assert policy.decide("notes_create", {}, "ops-console") == "trusted"
    assert policy.decide("contacts_create", {}, "ops-console") == "confirm"
    assert policy.decide("notes_create", {}, "dcl_other") == "confirm"


@pytest.mark.parametrize(
    "settings",
    [
        {"require_confirmation": ["contacts_search"]},  # a read tool
        {"require_confirmation": ["no_such_tool"]},
        {"thresholds": {"contacts_search": {"field": "q", "above": 1}}},
        {"thresholds": {"deals_update": {"field": "amuont", "above": 1}}},  # a typo
        {"require_confirmation": ["contacts_create"], "thresholds": {"deals_update": {"field": "amount", "above": 1}}},
        {"trusted_clients": {"dcl_self_registered": ["notes_create"]}},  # not pre-registered
        {"trusted_clients": {"ops-console": ["contacts_list"]}},
    ],
)
def test_misconfiguration_stops_start_up(settings: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        _policy(**settings)


def test_a_catalogue_that_already_uses_the_reserved_argument_is_refused() -> None:
    spec = next(t for t in CATALOGUE.tools if t.name == "notes_create")
    schema = spec.input_schema_dict()
    schema["properties"]["_deputy_draft"] = {"type": "string"}
    clashing = replace(spec, input_schema=schema)
    catalogue = type(CATALOGUE)((clashing,))
    with pytest.raises(ConfigError):
        build_policy(IntentSettings(), catalogue, [])


# --- the commit checks -----------------------------------------------------------------------------------------

NOW = 1_000
DRAFT = Draft(
    draft_id="drf_1", tool="contacts_create", arguments="{}", intent_hash="h1", user_id="usr_1", client_id="dcl_1",
    grant_id="grt_1", method="POST", target="https://api/x", status=DraftStatus.CONFIRMED, created_at=NOW - 10,
    expires_at=NOW + 590, decided_at=NOW - 5, digest="jws",
)  # fmt: skip
DIGEST = IntentDigest("h1", "contacts_create", "grt_1", NOW + 295, "drf_1", NOW - 5)
ATTEMPT = CommitAttempt("usr_1", "grt_1", "h1")


def test_a_matching_commit_passes() -> None:
    assert check_commit(DRAFT, DIGEST, ATTEMPT, NOW) is None


@pytest.mark.parametrize(
    ("draft", "digest", "attempt", "now", "reason"),
    [
        (None, DIGEST, ATTEMPT, NOW, "unknown_draft"),
        (DRAFT, DIGEST, replace(ATTEMPT, user_id="usr_2"), NOW, "unknown_draft"),
        (replace(DRAFT, status=DraftStatus.PENDING), None, ATTEMPT, NOW, "not_confirmed"),
        (replace(DRAFT, status=DraftStatus.PENDING), None, ATTEMPT, NOW + 590, "expired"),
        (replace(DRAFT, status=DraftStatus.REJECTED), None, ATTEMPT, NOW, "rejected"),
        (replace(DRAFT, status=DraftStatus.COMMITTED), DIGEST, ATTEMPT, NOW, "replayed"),
        (DRAFT, None, ATTEMPT, NOW, "bad_digest"),  # the stored digest did not verify
        (DRAFT, replace(DIGEST, draft_id="drf_2"), ATTEMPT, NOW, "bad_digest"),  # another draft's digest
        (DRAFT, replace(DIGEST, operation="contacts_update"), ATTEMPT, NOW, "bad_digest"),
        (replace(DRAFT, intent_hash="h2"), DIGEST, replace(ATTEMPT, intent_hash="h2"), NOW, "bad_digest"),
        (DRAFT, DIGEST, replace(ATTEMPT, grant_id="grt_2"), NOW, "other_session"),
        (DRAFT, replace(DIGEST, session_id="grt_2"), ATTEMPT, NOW, "other_session"),
        (DRAFT, DIGEST, replace(ATTEMPT, intent_hash="h2"), NOW, "changed_arguments"),
        (DRAFT, DIGEST, ATTEMPT, NOW + 295, "expired"),
    ],
)
def test_each_failed_check_refuses(
    draft: Draft | None, digest: IntentDigest | None, attempt: CommitAttempt, now: int, reason: str
) -> None:
    assert check_commit(draft, digest, attempt, now) == reason
