"""A bounded, mixed MCP-client workload against one Deputy base URL, recording everything it was acknowledged.

Workers each follow one fixed cycle of operations (offset per worker, so the mix is even at any moment):

* ``flow``: register a client, authorize in a scripted browser (Deputy consent, Acme sign-in), redeem the code;
* ``refresh``: rotate one of the worker's refresh tokens;
* ``tool_call``: ``contacts_list`` (one item) through the broker to Acme CRM with one of the worker's access tokens;
* ``revocation``: revoke one of the worker's refresh tokens (RFC 7009); that family is then retired.

A worker whose families are all retired runs a flow instead. Every request carries its own ``X-Request-Id``; the
ids of acknowledged requests (2xx, and for tools a result that is not an error) are kept, so a caller can check
that each one left its audit entry. A refresh that fails leaves the family *uncertain* (the server may or may not
have rotated it before the failure reached the client) and it is retired rather than presented again, which would
be reuse.

The loop is bounded by ``max_ops`` per worker and by ``seconds``. Used by tests/multi (an instance killed under
load) and bench/load.py (throughput and latency); no pytest imports here.
"""

from __future__ import annotations

import itertools
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

import anyio
import httpx

from clientside import RoutedBrowser, call_tool, redeem, refresh, register, revoke, start_authorization, tool_result

__all__ = ["BENCH_MIX", "Family", "Outcome", "Workload"]

Op = Literal["flow", "refresh", "tool_call", "revocation"]

# Flows 10 %, refreshes 20 %, tool calls 60 %, revocations 10 %.
BENCH_MIX: Final[tuple[Op, ...]] = (
    "flow", "tool_call", "refresh", "tool_call", "tool_call", "revocation", "tool_call", "refresh", "tool_call",
    "tool_call",
)  # fmt: skip
USERS: Final = (("alice", "alice-password"), ("bob", "bob-password"))
MAX_FAMILIES = 4  # per worker; older ones are simply no longer used
INSTANCE_HEADER = "x-deputy-instance"


@dataclass
class Family:
    """One grant as the client holds it: the newest tokens it was given."""

    client_id: str
    access_token: str
    refresh_token: str
    user: str
    refreshes: int = 0
    uncertain: bool = False  # a refresh failed: the client cannot know which refresh token is current
    revoked: bool = False


@dataclass(frozen=True)
class Outcome:
    op: Op
    started: float
    ended: float
    ok: bool
    detail: str = ""
    instance: str = ""

    @property
    def seconds(self) -> float:
        return self.ended - self.started


class _Failed(Exception):
    def __init__(self, detail: str, instance: str = "") -> None:
        super().__init__(detail)
        self.detail = detail
        self.instance = instance


def _instance(response: httpx.Response) -> str:
    """The instance that answered, as the load balancer labels it ("" when the request did not go through it)."""
    return str(response.headers.get(INSTANCE_HEADER, ""))


def _check(response: httpx.Response, status: int, what: str) -> None:
    if response.status_code != status:
        raise _Failed(
            f"{what}: {response.status_code} {response.text[:160]}", response.headers.get(INSTANCE_HEADER, "")
        )


@dataclass
class Workload:
    base: str
    client: Callable[[], httpx.AsyncClient]
    mix: Sequence[Op] = BENCH_MIX
    workers: int = 8
    max_ops: int = 100_000
    seconds: float = 20.0
    families: list[Family] = field(default_factory=list)
    registrations: list[str] = field(default_factory=list)
    acknowledged: dict[str, Op] = field(default_factory=dict)  # request id -> what it acknowledged
    outcomes: list[Outcome] = field(default_factory=list)
    on_outcome: Callable[[Outcome], None] | None = None

    async def run(self) -> None:
        deadline = time.monotonic() + self.seconds
        async with self.client() as http, anyio.create_task_group() as tg:
            for n in range(self.workers):
                tg.start_soon(self._worker, n, http, deadline)

    async def _worker(self, n: int, http: httpx.AsyncClient, deadline: float) -> None:
        mine: list[Family] = []
        ops = itertools.islice(itertools.cycle(self.mix), n % len(self.mix), None)
        user = USERS[n % len(USERS)]
        for count, op in enumerate(ops):
            if count >= self.max_ops or time.monotonic() >= deadline:
                return
            live = [f for f in mine if not (f.uncertain or f.revoked)]
            actual: Op = op if live or op == "flow" else "flow"
            await self._one(actual, http, live, mine, user, count)

    async def _one(
        self, op: Op, http: httpx.AsyncClient, live: list[Family], mine: list[Family], user: tuple[str, str], n: int
    ) -> None:
        started = time.monotonic()
        try:
            if op == "flow":
                mine.append(await self.flow(http, user))
                del mine[:-MAX_FAMILIES]
                instance = ""
            else:
                family = live[n % len(live)]
                instance = await getattr(self, op)(http, family)
        except _Failed as exc:
            self._record(Outcome(op, started, time.monotonic(), False, exc.detail, exc.instance))
        except (httpx.HTTPError, AssertionError) as exc:  # AssertionError: the scripted browser met an unexpected
            # page (a 502 from the load balancer for a request an instance died in): a failed operation, recorded
            self._record(Outcome(op, started, time.monotonic(), False, f"{type(exc).__name__}: {exc}"[:200]))
        else:
            self._record(Outcome(op, started, time.monotonic(), True, "", instance))

    def _record(self, outcome: Outcome) -> None:
        self.outcomes.append(outcome)
        if self.on_outcome is not None:
            self.on_outcome(outcome)

    def _tag(self) -> tuple[str, dict[str, str]]:
        rid = "wl-" + secrets.token_hex(8)
        return rid, {"x-request-id": rid}

    async def flow(self, http: httpx.AsyncClient, user: tuple[str, str]) -> Family:
        rid, headers = self._tag()
        registered = await register(http, self.base, headers=headers)
        _check(registered, 201, "register")
        client_id = registered.json()["client_id"]
        self.registrations.append(client_id)
        self.acknowledged[rid] = "flow"
        auth = start_authorization(self.base, client_id)
        result = await RoutedBrowser(self.base, user=user).authorize(auth.url, auth.redirect_uri)
        if "code" not in result:
            raise _Failed(f"authorization: {result}")
        rid, headers = self._tag()
        tokens = await redeem(http, self.base, auth, result["code"], headers=headers)
        _check(tokens, 200, "code exchange")
        self.acknowledged[rid] = "flow"
        body = tokens.json()
        family = Family(client_id, body["access_token"], body["refresh_token"], user[0])
        self.families.append(family)
        return family

    async def refresh(self, http: httpx.AsyncClient, family: Family) -> str:
        rid, headers = self._tag()
        try:
            r = await refresh(http, self.base, family.client_id, family.refresh_token, headers=headers)
            _check(r, 200, "refresh")
        except (httpx.HTTPError, _Failed):
            family.uncertain = True
            raise
        body = r.json()
        family.access_token, family.refresh_token = body["access_token"], body["refresh_token"]
        family.refreshes += 1
        self.acknowledged[rid] = "refresh"
        return _instance(r)

    async def tool_call(self, http: httpx.AsyncClient, family: Family) -> str:
        rid, headers = self._tag()
        r = await call_tool(http, self.base, family.access_token, "contacts_list", {"limit": 1}, headers=headers)
        instance = _instance(r)
        if r.status_code != 200:
            raise _Failed(f"tool call: {r.status_code} {r.text[:160]}", instance)
        is_error, text = tool_result(r)
        if is_error:
            raise _Failed(f"tool call: {text[:160]}", instance)
        self.acknowledged[rid] = "tool_call"
        return instance

    async def revocation(self, http: httpx.AsyncClient, family: Family) -> str:
        rid, headers = self._tag()
        family.revoked = True  # whatever the answer, the client stops using it
        r = await revoke(http, self.base, family.client_id, family.refresh_token, headers=headers)
        _check(r, 200, "revocation")
        self.acknowledged[rid] = "revocation"
        return _instance(r)

    # --- summaries -----------------------------------------------------------------------------------------

    def by_op(self) -> dict[Op, list[Outcome]]:
        grouped: dict[Op, list[Outcome]] = {}
        for outcome in self.outcomes:
            grouped.setdefault(outcome.op, []).append(outcome)
        return grouped

    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]
