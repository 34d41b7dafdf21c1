"""The consent state machine of one browser authorization transaction.

```mermaid
stateDiagram-v2
    [*] --> pending: GET /authorize (client + exact redirect_uri validated; page shown; nothing upstream)
    pending --> approved: POST approve (CSRF consumed; upstream state + binding cookie created NOW)
    pending --> denied: POST deny (access_denied to the registered redirect_uri)
    approved --> callback: GET /callback (state consumed once; binding cookie must match)
    callback --> completed: upstream code exchanged, user known, consent recorded, Deputy code issued
    callback --> failed: upstream refused or broke, or the callback came from another browser
    pending --> [*]: expires after lifetimes.flow
    approved --> [*]: expires after lifetimes.flow
```

Each arrow is one guarded ``UPDATE … RETURNING`` in ``deputy.storage.sql.flows``; the guard is the source state,
so no transition can happen twice. There is no arrow from ``pending`` to the upstream: invariant 1. A remembered
consent (docs/consent.md) takes the same ``pending → approved`` arrow within GET /authorize itself.
"""

from __future__ import annotations

from typing import Final

from deputy.oauth.models import FlowStatus

__all__ = ["TRANSITIONS", "check_transition"]

TRANSITIONS: Final[frozenset[tuple[FlowStatus, FlowStatus]]] = frozenset(
    {
        (FlowStatus.PENDING, FlowStatus.APPROVED),
        (FlowStatus.PENDING, FlowStatus.DENIED),
        (FlowStatus.APPROVED, FlowStatus.CALLBACK),
        (FlowStatus.CALLBACK, FlowStatus.COMPLETED),
        (FlowStatus.CALLBACK, FlowStatus.FAILED),
    }
)


def check_transition(source: FlowStatus, target: FlowStatus) -> bool:
    return (source, target) in TRANSITIONS
