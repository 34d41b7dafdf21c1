"""The legitimate flow end to end, in-process: the positive control for every attack test."""

from __future__ import annotations

import pytest

from deputy.oauth.tokens import verify_access_token
from support import ACME, APP_REDIRECT, DEPUTY, RESOURCE, Env, pkce

pytestmark = pytest.mark.anyio


async def test_register_authorize_consent_upstream_callback_token(env: Env) -> None:
    client = await env.register()
    verifier, challenge = pkce()
    async with env.browser() as browser:
        trip = await env.drive(browser, env.authorize_url(client["client_id"], challenge, state="xyz"))
    kinds = trip.kinds()
    assert kinds[0] == "deputy-consent"
    assert "acme-login" in kinds and "acme-consent" in kinds
    params = trip.params
    assert trip.landed is not None and trip.landed.startswith(APP_REDIRECT + "?")
    assert params["state"] == "xyz"
    assert params["iss"] == DEPUTY
    r = await env.token(
        grant_type="authorization_code",
        code=params["code"],
        redirect_uri=APP_REDIRECT,
        client_id=client["client_id"],
        code_verifier=verifier,
        resource=RESOURCE,
    )
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    body = r.json()
    assert body["token_type"] == "Bearer" and body["refresh_token"].startswith("dpr_")
    claims = verify_access_token(
        body["access_token"], env.ctx.keys.verify_set, issuer=DEPUTY, audience=RESOURCE, now=env.clock.now()
    )
    assert claims.client_id == client["client_id"]
    assert claims.scopes == ("crm.read",)


async def test_second_authorization_shows_consent_again_and_knows_the_user(env: Env) -> None:
    client = await env.register()
    _, challenge = pkce()
    async with env.browser() as browser:
        await env.drive(browser, env.authorize_url(client["client_id"], challenge))
        r = await browser.get(env.authorize_url(client["client_id"], challenge))
    assert r.status_code == 200 and 'name="flow_id"' in r.text
    assert "Alice Example" in r.text  # Deputy's session now identifies the user on its own page


async def test_refresh_rotates(env: Env) -> None:
    client, tokens = await env.full_flow()
    r = await env.token(
        grant_type="refresh_token", refresh_token=tokens["refresh_token"], client_id=client["client_id"]
    )
    assert r.status_code == 200, r.text
    assert r.json()["refresh_token"] != tokens["refresh_token"]


async def test_upstream_tokens_are_only_stored_encrypted(env: Env) -> None:
    await env.full_flow()
    with env.ctx.store.read() as tx:
        rows = tx.conn.exec_driver_sql("SELECT ciphertext FROM upstream_credentials").fetchall()
    assert rows, "upstream tokens must be stored"
    for (blob,) in rows:
        assert b"acme_at_" not in bytes(blob) and b"acme_rt_" not in bytes(blob)
    assert ACME


async def test_every_step_is_audited_without_secrets(env: Env) -> None:
    client, tokens = await env.full_flow()
    await env.token(grant_type="refresh_token", refresh_token=tokens["refresh_token"], client_id=client["client_id"])
    with env.ctx.store.read() as tx:
        events = tx.audit.events()
    names = [e["event"] for e in events]
    for expected in (
        "client.registered",
        "consent.shown",
        "consent.approved",
        "callback.ok",
        "consent.recorded",
        "code.issued",
        "code.redeemed",
        "refresh.rotated",
    ):
        assert expected in names, expected
    assert names.index("consent.approved") < names.index("callback.ok") < names.index("code.redeemed")
    dump = repr(events)
    assert tokens["refresh_token"] not in dump and tokens["access_token"] not in dump
    assert "acme_at_" not in dump and "acme_rt_" not in dump
