"""The provider's state: atomic code and refresh-token use, and the test controls for expiry and revocation."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from acme_flow import ALICE_ID, BOB, BOB_ID, CLIENT_ID, authorize_code, authorize_params, is_consent_page, obtain_tokens
from starlette.applications import Starlette

from deputy.clock import FrozenClock
from deputy.demo.acme import AcmeStore
from deputy.demo.acme.grants import GrantError

SCOPES = frozenset({"profile"})


def _store() -> AcmeStore:
    return AcmeStore(FrozenClock(), access_token_ttl=3600)


def _redeem_or_none(store: AcmeStore, code: str) -> str | None:
    try:
        return store.redeem_code(code).grant_id
    except GrantError:
        return None


def test_a_code_is_redeemed_exactly_once_under_concurrency() -> None:
    store = _store()
    code = store.issue_code(CLIENT_ID, "http://cb", SCOPES, ALICE_ID, None).code
    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(lambda _: _redeem_or_none(store, code), range(64)))
    assert sum(result is not None for result in results) == 1


def test_a_refresh_token_rotates_exactly_once_under_concurrency() -> None:
    store = _store()
    pair = store.issue_tokens(CLIENT_ID, ALICE_ID, SCOPES, "grant-1")

    def attempt(_: int) -> bool:
        try:
            store.refresh(pair.refresh.token, CLIENT_ID, None, rotate=True)
        except GrantError:
            return False
        return True

    with ThreadPoolExecutor(max_workers=16) as pool:
        assert sum(pool.map(attempt, range(64))) == 1


def test_tokens_carry_recognisable_prefixes() -> None:
    store = _store()
    pair = store.issue_tokens(CLIENT_ID, ALICE_ID, SCOPES, "grant-1")
    assert pair.access.token.startswith("acme_at_") and pair.refresh.token.startswith("acme_rt_")
    assert len(pair.access.token) > 40


def test_expire_access_tokens_keeps_refresh_tokens() -> None:
    store = _store()
    pair = store.issue_tokens(CLIENT_ID, ALICE_ID, SCOPES, "grant-1")
    assert store.expire_access_tokens() == 1
    assert store.access_token(pair.access.token) is None
    renewed = store.refresh(pair.refresh.token, CLIENT_ID, None, rotate=True)
    assert store.access_token(renewed.access.token) is not None


def test_revoke_user_grants_touches_only_that_user_and_client() -> None:
    store = _store()
    alice = store.issue_tokens(CLIENT_ID, ALICE_ID, SCOPES, "g-alice")
    alice_other = store.issue_tokens("other-client", ALICE_ID, SCOPES, "g-alice-other")
    bob = store.issue_tokens(CLIENT_ID, BOB_ID, SCOPES, "g-bob")
    code = store.issue_code(CLIENT_ID, "http://cb", SCOPES, ALICE_ID, None)
    assert store.revoke_user_grants(ALICE_ID, CLIENT_ID) == 2
    assert store.access_token(alice.access.token) is None
    assert store.access_token(alice_other.access.token) is not None
    assert store.access_token(bob.access.token) is not None
    with pytest.raises(GrantError):
        store.redeem_code(code.code)
    assert store.live_token_count(ALICE_ID) == 2 and store.live_token_count() == 4


def test_revoke_user_grants_forgets_consent() -> None:
    store = _store()
    store.record_consent(ALICE_ID, CLIENT_ID, SCOPES)
    device = store.remember_device(None, ALICE_ID, CLIENT_ID)
    store.revoke_user_grants(ALICE_ID)
    assert not store.has_consent(ALICE_ID, CLIENT_ID, SCOPES)
    assert not store.device_remembers(device, ALICE_ID, CLIENT_ID)


def test_consent_accumulates_scopes() -> None:
    store = _store()
    store.record_consent(ALICE_ID, CLIENT_ID, frozenset({"contacts:read"}))
    store.record_consent(ALICE_ID, CLIENT_ID, frozenset({"notes:read"}))
    assert store.has_consent(ALICE_ID, CLIENT_ID, frozenset({"contacts:read", "notes:read"}))
    assert not store.has_consent(ALICE_ID, CLIENT_ID, frozenset({"deals:read"}))
    assert not store.has_consent(BOB_ID, CLIENT_ID, frozenset({"contacts:read"}))


def test_forged_device_cookie_remembers_nothing() -> None:
    store = _store()
    device = store.remember_device("acme_d_forged", ALICE_ID, CLIENT_ID)
    assert device != "acme_d_forged"
    assert not store.device_remembers("acme_d_forged", ALICE_ID, CLIENT_ID)
    assert not store.device_remembers(None, ALICE_ID, CLIENT_ID)


@pytest.mark.anyio
async def test_upstream_revocation_is_felt_end_to_end(
    app: Starlette, client: httpx.AsyncClient, store: AcmeStore
) -> None:
    await authorize_code(client)
    tokens = await obtain_tokens(app)
    bob = await obtain_tokens(app, BOB)
    assert store.revoke_user_grants(ALICE_ID) >= 1
    assert (await client.get("/userinfo", headers=tokens.headers)).status_code == 401
    refresh = await client.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens.refresh},
        auth=(CLIENT_ID, "deputy-demo-secret"),
    )
    assert refresh.json()["error"] == "invalid_grant"
    assert is_consent_page(await client.get("/authorize", params=authorize_params()))
    assert (await client.get("/userinfo", headers=bob.headers)).status_code == 200
