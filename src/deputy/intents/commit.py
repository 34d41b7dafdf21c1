"""The commit checks, pure: may this tool call spend this draft's confirmation?

All must hold: the draft exists and belongs to the caller's user; the user approved it (CONFIRMED, not pending,
rejected or already committed); its digest verified under an intent key of the ring and speaks of this very
draft; the call comes through the grant that drafted it (``session_id``); the call is exactly the operation the
user saw (the intent hash recomputed from the commit call equals the one signed); and the digest has not expired.
The one-shot part (nobody committed it meanwhile) is the store's guarded UPDATE, not a check here.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Final, Literal

from deputy.intents.digest import IntentDigest
from deputy.intents.models import Draft, DraftStatus

__all__ = ["REFUSALS", "CommitAttempt", "Refusal", "check_commit"]

Refusal = Literal[
    "unknown_draft",
    "not_confirmed",
    "rejected",
    "replayed",
    "expired",
    "bad_digest",
    "other_session",
    "changed_arguments",
    "declined",
]

REFUSALS: Final[dict[Refusal, str]] = {
    "unknown_draft": "There is no such draft for this user. Call the tool without _deputy_draft to start again.",
    "not_confirmed": "The user has not approved this draft yet.",
    "rejected": "The user rejected this operation. Nothing was done.",
    "replayed": "This confirmation was already used; each confirmation runs the operation once. Nothing more was done.",
    "expired": "This draft or its confirmation has expired. Nothing was done; call the tool again (without "
    "_deputy_draft) for a new draft.",
    "bad_digest": "The confirmation of this draft cannot be verified. Nothing was done.",
    "other_session": "This draft was confirmed for another connection (another client or authorization). Nothing "
    "was done.",
    "changed_arguments": "The arguments differ from the operation the user confirmed. Nothing was done; any change "
    "needs a new draft (call the tool again without _deputy_draft).",
    "declined": "The user did not open the confirmation. Nothing was done.",
}
"""What the MCP client is told for each refusal: never a hash, a digest or another user's data."""


@dataclass(frozen=True)
class CommitAttempt:
    """Who is committing, and the intent hash of the call they made."""

    user_id: str
    grant_id: str
    intent_hash: str


def check_commit(draft: Draft | None, digest: IntentDigest | None, attempt: CommitAttempt, now: int) -> Refusal | None:
    """None when the commit may proceed, else why not. ``digest`` is None when the stored one did not verify."""
    if draft is None or draft.user_id != attempt.user_id:
        return "unknown_draft"  # another user's draft is indistinguishable from none
    if draft.status is DraftStatus.PENDING:
        return "expired" if draft.expires_at <= now else "not_confirmed"
    if draft.status is DraftStatus.REJECTED:
        return "rejected"
    if draft.status is DraftStatus.COMMITTED:
        return "replayed"
    if digest is None or not _speaks_of(digest, draft):
        return "bad_digest"
    if digest.session_id != attempt.grant_id or draft.grant_id != attempt.grant_id:
        return "other_session"
    if not hmac.compare_digest(digest.intent_hash, attempt.intent_hash):
        return "changed_arguments"
    if digest.expires_at <= now:
        return "expired"
    return None


def _speaks_of(digest: IntentDigest, draft: Draft) -> bool:
    """The signed digest is this draft's: a stored row edited without the intent key is caught here."""
    return (
        digest.draft_id == draft.draft_id
        and digest.operation == draft.tool
        and hmac.compare_digest(digest.intent_hash, draft.intent_hash)
    )
