"""The draft of a write operation and its state machine.

```
PENDING ──approve (the draft's user, CSRF, unexpired)──> CONFIRMED ──commit (digest verifies, same call,
   │                                                                   same grant, unexpired; once)──> COMMITTED
   └──reject (same guards)──> REJECTED
```

Each transition is one guarded ``UPDATE … RETURNING`` in ``deputy.storage.sql.intents``: of N concurrent attempts
exactly one gets the row (invariant 3). Expiry is not a state: a PENDING draft past ``expires_at`` can no longer be
decided, and a CONFIRMED one past its digest's ``expires_at`` can no longer be committed.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Draft", "DraftStatus"]


class DraftStatus(StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"
    COMMITTED = "committed"


@dataclass(frozen=True)
class Draft:
    """One drafted write. ``arguments`` is canonical JSON (no credential: tool arguments only); ``target`` is the
    upstream URL the call goes to; ``digest`` the signed intent digest once the user approved."""

    draft_id: str
    tool: str
    arguments: str
    intent_hash: str
    user_id: str
    client_id: str
    grant_id: str
    method: str
    target: str
    status: DraftStatus
    created_at: int
    expires_at: int
    decided_at: int | None = None
    digest: str | None = None
    committed_at: int | None = None
