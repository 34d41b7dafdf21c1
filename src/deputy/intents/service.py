"""The intent steps against the store: draft, show, decide, commit. Each function is one transaction, and its
audit event is written in that transaction, so a step that cannot be audited does not happen (invariant 7).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Literal

from deputy.audit.log import audit
from deputy.errors import BrowserFlowError, DeputyError
from deputy.intents.canonical import IntentSubject
from deputy.intents.commit import CommitAttempt, Refusal, check_commit
from deputy.intents.digest import DigestError, IntentDigest, sign_digest, verify_digest
from deputy.intents.models import Draft, DraftStatus
from deputy.oauth.models import User
from deputy.oauth.tokens import new_id, new_secret
from deputy.service.authorization import SESSION, session_user
from deputy.service.authorization import _csrf_binding as csrf_binding
from deputy.service.context import ServiceContext
from deputy.storage.sql.store import Tx

__all__ = [
    "CSRF",
    "CommitRefused",
    "ConfirmView",
    "TooManyDrafts",
    "commit",
    "decide",
    "open_confirmation",
    "page_problem",
    "refuse_commit",
    "save_draft",
]

CSRF: Final = "intent-csrf"  # keyed-hash purpose, apart from the consent page's
MAX_PENDING_PER_GRANT: Final = 50
KEEP_EXPIRED_SECONDS: Final = 86400  # expired drafts stay a day, so their page can say "expired", then go
MAX_DRAFT_ID: Final = 64

Problem = Literal["unknown", "no_session", "other_user", "expired", "decided", "stale", "no_key"]


class TooManyDrafts(DeputyError):
    """The grant already has ``MAX_PENDING_PER_GRANT`` drafts awaiting the user."""


class CommitRefused(DeputyError):
    def __init__(self, reason: Refusal, draft: Draft | None) -> None:
        super().__init__(reason)
        self.reason: Refusal = reason
        self.draft = draft


@dataclass(frozen=True)
class ConfirmView:
    """What the confirmation page shows; the client's name comes from its registration, never from the call."""

    draft: Draft
    csrf_token: str
    user: User
    client_name: str | None
    arguments: str
    requested_at: str
    expires_at: str


def _when(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _visible(text: str) -> str:
    """Invisible and look-alike-space characters (format controls, bidi overrides, zero-width and non-breaking
    spaces) shown as ``\\uXXXX``: the page must not display an operation that looks like another one."""
    return "".join(ch if ch.isprintable() or ch == "\n" else f"\\u{ord(ch):04x}" for ch in text)


def save_draft(ctx: ServiceContext, subject: IntentSubject, grant_id: str) -> Draft:
    """Store a PENDING draft; nothing goes upstream.

    Raises:
        TooManyDrafts: the grant has too many drafts awaiting the user.
    """
    now = ctx.clock.now()
    draft = Draft(
        draft_id=new_id("drf_"),
        tool=subject.tool,
        arguments=subject.canonical_arguments(),
        intent_hash=subject.intent_hash(),
        user_id=subject.user_id,
        client_id=subject.client_id,
        grant_id=grant_id,
        method=subject.method,
        target=subject.target,
        status=DraftStatus.PENDING,
        created_at=now,
        expires_at=now + ctx.settings.intents.draft_ttl_seconds,
    )
    with ctx.store.write() as tx:
        tx.intents.purge_expired(now - KEEP_EXPIRED_SECONDS)
        full = tx.intents.count_pending(grant_id, now=now) >= MAX_PENDING_PER_GRANT
        if not full:
            tx.intents.create(draft)
        audit(
            tx.audit,
            "intent.drafted",
            at=now,
            outcome="refused" if full else "ok",
            client_id=draft.client_id,
            user_id=draft.user_id,
            tool=draft.tool,
            draft_id=None if full else draft.draft_id,
            intent_hash=draft.intent_hash,
            **({"reason": "too-many-pending"} if full else {}),
        )
    if full:
        raise TooManyDrafts("too many drafts await confirmation")
    return draft


def _problem(draft: Draft | None, user_id: str | None, now: int) -> Problem | None:
    """Why the confirmation page (or its form) cannot be used by this browser, if it cannot."""
    if draft is None:
        return "unknown"
    if user_id is None:
        return "no_session"
    if user_id != draft.user_id:
        return "other_user"
    if draft.status is not DraftStatus.PENDING:
        return "decided"
    return "expired" if draft.expires_at <= now else None


def _load(tx: Tx, draft_id: str) -> Draft | None:
    return tx.intents.load(draft_id) if 0 < len(draft_id) <= MAX_DRAFT_ID else None


def open_confirmation(
    ctx: ServiceContext, draft_id: str, *, session_cookie: str | None, csrf_cookie: str
) -> ConfirmView:
    """The page for a PENDING draft of the signed-in user, with a fresh CSRF token bound to this browser.

    Raises:
        BrowserFlowError: unknown draft, no Deputy session, another user's draft, expired or already decided.
    """
    now = ctx.clock.now()
    user = session_user(ctx, session_cookie)
    token = new_secret()
    client = None
    with ctx.store.write() as tx:
        draft = _load(tx, draft_id)
        problem = _problem(draft, user.user_id if user else None, now)
        if problem is None and draft is not None and user is not None:
            csrf_hash = ctx.keys.keyed_hash(CSRF, csrf_binding(csrf_cookie, token))
            if not tx.intents.set_csrf(draft.draft_id, user.user_id, csrf_hash, now=now):
                problem = "stale"
            client = tx.clients.load(draft.client_id, now=now)
    if problem is not None or draft is None or user is None:
        raise page_problem(problem or "unknown")
    arguments = _visible(json.dumps(json.loads(draft.arguments), indent=2, ensure_ascii=False, sort_keys=True))
    return ConfirmView(
        draft=draft,
        csrf_token=token,
        user=user,
        client_name=client.client_name if client else None,
        arguments=arguments,
        requested_at=_when(draft.created_at),
        expires_at=_when(draft.expires_at),
    )


def decide(
    ctx: ServiceContext,
    draft_id: str,
    *,
    approve: bool,
    csrf_token: str,
    csrf_cookie: str,
    session_cookie: str | None,
) -> Draft:
    """PENDING → CONFIRMED (signing the intent digest) or REJECTED, for the draft's own user, once.

    Raises:
        BrowserFlowError: as ``open_confirmation``, or a CSRF mismatch or a form already used.
    """
    now = ctx.clock.now()
    csrf_hashes = ctx.keys.keyed_hash_candidates(CSRF, csrf_binding(csrf_cookie, csrf_token))
    decided: Draft | None = None
    with ctx.store.write() as tx:
        user_id = (
            tx.sessions.load_user_id(ctx.keys.keyed_hash_candidates(SESSION, session_cookie), now=now)
            if session_cookie
            else None
        )
        draft = _load(tx, draft_id)
        problem = _problem(draft, user_id, now)
        if problem is None and draft is not None and user_id is not None:
            digest = _sign(ctx, draft, now) if approve else None
            if approve and digest is None:
                problem = "no_key"
            else:
                status = DraftStatus.CONFIRMED if approve else DraftStatus.REJECTED
                decided = tx.intents.decide(draft.draft_id, user_id, csrf_hashes, now=now, status=status, digest=digest)
                problem = None if decided is not None else "stale"
        _audit_decision(tx, draft, decided, user_id, problem, now)
    if decided is None:
        raise page_problem(problem or "stale")
    return decided


def _sign(ctx: ServiceContext, draft: Draft, now: int) -> str | None:
    key = ctx.keys.current_intent
    if key is None:
        return None
    digest = IntentDigest(
        intent_hash=draft.intent_hash,
        operation=draft.tool,
        session_id=draft.grant_id,
        expires_at=now + ctx.settings.intents.commit_ttl_seconds,
        draft_id=draft.draft_id,
        confirmed_at=now,
    )
    return sign_digest(digest, key)


def _audit_decision(
    tx: Tx, draft: Draft | None, decided: Draft | None, user_id: str | None, problem: Problem | None, now: int
) -> None:
    if decided is not None:
        event = "intent.confirmed" if decided.status is DraftStatus.CONFIRMED else "intent.rejected"
        _audit_step(tx, event, decided, now)
        return
    audit(
        tx.audit,
        "intent.confirm_refused",
        at=now,
        outcome="refused",
        client_id=draft.client_id if draft else None,
        user_id=user_id,
        draft_id=draft.draft_id if draft else None,
        reason=problem or "stale",
    )


def _audit_step(tx: Tx, event: str, draft: Draft, now: int) -> None:
    audit(
        tx.audit,
        event,
        at=now,
        client_id=draft.client_id,
        user_id=draft.user_id,
        tool=draft.tool,
        draft_id=draft.draft_id,
        intent_hash=draft.intent_hash,
        grant_id=draft.grant_id,
    )


_PAGES: Final[dict[Problem, tuple[str, str, int]]] = {
    "unknown": ("Unknown confirmation", "There is no such operation to confirm. Check the link you were given.", 404),
    "no_session": (
        "Open this link where you signed in",
        "Deputy does not know who you are in this browser. Open the link in the browser where you approved this "
        "application's access (where you signed in through Deputy), or connect the application again from this "
        "browser first.",
        401,
    ),
    "other_user": (
        "Sign in as that user first",
        "This operation was requested for another account. Open the link in the browser where that account is "
        "signed in to Deputy.",
        403,
    ),
    "expired": ("This request has expired", "Nothing was done. Ask the application to prepare it again.", 410),
    "decided": ("Already decided", "This operation was already approved or rejected. Nothing more was done.", 409),
    "stale": (
        "This form is no longer valid",
        "The form was already used, has expired, or was not opened in this browser. Nothing was done; reload the "
        "confirmation link to try again.",
        400,
    ),
    "no_key": ("Confirmation unavailable", "Deputy cannot sign confirmations right now. Nothing was done.", 503),
}


def page_problem(problem: Problem) -> BrowserFlowError:
    title, message, status = _PAGES[problem]
    return BrowserFlowError(title, message, status=status, cause=f"intent {problem}")


def commit(ctx: ServiceContext, draft_id: str, attempt: CommitAttempt) -> Draft:
    """CONFIRMED → COMMITTED, once, if every check of ``deputy.intents.commit`` passes. The caller then runs the
    operation; if the upstream call fails, the draft stays spent (the user confirms a new one).

    Raises:
        CommitRefused: why not (audited as ``intent.commit_refused``).
    """
    now = ctx.clock.now()
    committed: Draft | None = None
    with ctx.store.write() as tx:
        draft = _load(tx, draft_id)
        reason = check_commit(draft, _verified(ctx, draft), attempt, now)
        if reason is None:
            committed = tx.intents.commit(
                draft_id, user_id=attempt.user_id, grant_id=attempt.grant_id, intent_hash=attempt.intent_hash, now=now
            )
            reason = None if committed is not None else "replayed"
        if committed is not None:
            _audit_step(tx, "intent.committed", committed, now)
        else:
            _audit_refusal(tx, draft, attempt, reason or "replayed", now)
    if committed is None:
        raise CommitRefused(reason or "replayed", draft)
    return committed


def refuse_commit(ctx: ServiceContext, draft_id: str, attempt: CommitAttempt, reason: Refusal) -> None:
    """Audit a commit refused before the store was asked (the client declined the confirmation)."""
    now = ctx.clock.now()
    with ctx.store.write() as tx:
        _audit_refusal(tx, _load(tx, draft_id), attempt, reason, now)


def _audit_refusal(tx: Tx, draft: Draft | None, attempt: CommitAttempt, reason: Refusal, now: int) -> None:
    mine = draft is not None and draft.user_id == attempt.user_id
    audit(
        tx.audit,
        "intent.commit_refused",
        at=now,
        outcome="refused",
        client_id=draft.client_id if draft and mine else None,
        user_id=attempt.user_id,
        tool=draft.tool if draft and mine else None,
        draft_id=draft.draft_id if draft and mine else None,
        intent_hash=attempt.intent_hash,
        grant_id=attempt.grant_id,
        reason=reason,
    )


def _verified(ctx: ServiceContext, draft: Draft | None) -> IntentDigest | None:
    if draft is None or draft.digest is None:
        return None
    try:
        return verify_digest(draft.digest, ctx.keys.intent)
    except DigestError:
        return None
