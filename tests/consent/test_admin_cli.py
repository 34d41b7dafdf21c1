"""``deputy consents …`` and ``deputy clients …`` against a running (in-process) Deputy sharing their database.

The commands run through ``deputy.cli.main`` with a real configuration file, on SQLite and PostgreSQL. Each change
is checked where it matters: at /authorize, /token and /register of the running instance. That instance caches a
loaded client for at most ``CLIENT_TTL`` (1 s); the tests empty that cache instead of waiting the bound out.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from consent_support import events, user_id, write_config

from deputy.cli import main
from deputy.oauth.client_metadata import DOCUMENT_AUTH_METHODS, validate_client_document
from deputy.service.registration import registration_policy
from support import APP_REDIRECT, Env, make_env, pkce

pytestmark = pytest.mark.anyio

ALICE_SUBJECT = "acme-u-1001"
DOCUMENT_ID = "https://tools.example/deputy-client.json"
STATIC = {"client_id": "ops-console", "client_name": "Ops Console", "redirect_uris": [APP_REDIRECT]}


@pytest.fixture
def env(tmp_path: Path, db_url: str) -> Iterator[Env]:
    e = make_env(tmp_path, db_url, clients=[STATIC])
    yield e
    e.ctx.store.db.dispose()


def deputy(env: Env, tmp_path: Path, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    config = write_config(env, tmp_path / "deputy.toml")
    command = [*argv[:2], "--config", str(config), *argv[2:]]
    capsys.readouterr()
    code = main(command)
    return code, capsys.readouterr().out


async def authorize_page(env: Env, client_id: str) -> Any:
    async with env.browser() as ua:
        return await ua.get(env.authorize_url(client_id, pkce()[1]))


async def test_operator_lists_and_revokes_a_users_consents(
    env: Env, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    client, tokens = await env.full_flow()
    alice = user_id(env, ALICE_SUBJECT)
    code, out = deputy(env, tmp_path, capsys, "consents", "list", "--user", ALICE_SUBJECT, "--json")
    assert code == 0
    (row,) = json.loads(out)
    assert (row["client_id"], row["state"], row["redirect_uri"], row["scopes"]) == (
        client["client_id"], "live", APP_REDIRECT, "crm.read")  # fmt: skip

    code, out = deputy(env, tmp_path, capsys, "consents", "revoke", "--user", alice, "--client", client["client_id"])
    assert code == 0 and "revoked 1 consent(s) and 1 grant(s)" in out
    cid = client["client_id"]
    r = await env.token(grant_type="refresh_token", refresh_token=tokens["refresh_token"], client_id=cid)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    (done,) = events(env, "consent.revoked_by_operator")
    assert (done["client_id"], done["user_id"], done["grants"]) == (client["client_id"], alice, 1)
    code, out = deputy(env, tmp_path, capsys, "consents", "list", "--user", alice, "--json")
    assert [r["state"] for r in json.loads(out)] == ["revoked"]

    assert deputy(env, tmp_path, capsys, "consents", "list", "--user", "usr_nobody")[0] == 1


async def test_clients_list_and_show_without_secrets(
    env: Env, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    public, _ = await env.full_flow()
    confidential = await env.register(token_endpoint_auth_method="client_secret_basic")
    code, out = deputy(env, tmp_path, capsys, "clients", "list", "--kind", "registered", "--json")
    assert code == 0
    assert {c["client_id"] for c in json.loads(out)} == {public["client_id"], confidential["client_id"]}
    code, out = deputy(env, tmp_path, capsys, "clients", "list", "--kind", "static", "--json")
    assert [c["client_id"] for c in json.loads(out)] == ["ops-console"]

    code, out = deputy(env, tmp_path, capsys, "clients", "show", confidential["client_id"])
    assert code == 0 and "client_secret: set (stored as a keyed hash)" in out
    with env.ctx.store.read() as tx:
        stored = tx.clients.load_record(confidential["client_id"])
    assert stored is not None and stored.secret_hash is not None
    assert confidential["client_secret"] not in out and stored.secret_hash not in out
    code, out = deputy(env, tmp_path, capsys, "clients", "show", public["client_id"], "--json")
    shown = json.loads(out)
    assert (shown["kind"], shown["live_consents"], shown["client_secret"]) == ("dynamic", 1, None)
    assert shown["last_used_at"] is not None and shown["redirect_uris"] == [APP_REDIRECT]
    assert deputy(env, tmp_path, capsys, "clients", "show", "dcl_unknown")[0] == 1


async def test_disable_refuses_everywhere_and_enable_lifts_only_the_refusal(
    env: Env, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    client, tokens = await env.full_flow()
    cid = client["client_id"]
    code, out = deputy(env, tmp_path, capsys, "clients", "disable", cid)
    assert code == 0 and "revoked 1 grant(s)" in out
    env.ctx.clients_cache.clear()

    page = await authorize_page(env, cid)
    assert page.status_code == 403 and "location" not in page.headers and "Application disabled" in page.text
    r = await env.token(grant_type="refresh_token", refresh_token=tokens["refresh_token"], client_id=cid)
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    again = await env.register(client_id=cid)  # /register mints its own ids: the disabled one cannot come back
    assert again["client_id"] != cid
    with env.ctx.store.read() as tx:
        assert tx.clients.is_disabled(cid)
    (disabled,) = events(env, "client.disabled")
    assert (disabled["client_id"], disabled["grants"]) == (cid, 1)

    code, out = deputy(env, tmp_path, capsys, "clients", "enable", cid)
    assert code == 0 and "enabled" in out
    env.ctx.clients_cache.clear()
    page = await authorize_page(env, cid)
    assert page.status_code == 200 and 'name="flow_id"' in page.text
    r = await env.token(grant_type="refresh_token", refresh_token=tokens["refresh_token"], client_id=cid)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"  # revocations stand
    assert [e["client_id"] for e in events(env, "client.enabled")] == [cid]


async def test_a_disabled_static_client_stays_disabled_after_a_restart(
    env: Env, tmp_path: Path, capsys: pytest.CaptureFixture[str], db_url: str
) -> None:
    assert deputy(env, tmp_path, capsys, "clients", "disable", "ops-console")[0] == 0
    env.ctx.store.db.dispose()
    restarted = make_env(tmp_path, db_url, clients=[STATIC])  # re-writes configured clients at start-up
    page = await authorize_page(restarted, "ops-console")
    assert page.status_code == 403 and "Application disabled" in page.text
    restarted.ctx.store.db.dispose()


async def test_a_disabled_document_client_is_refused(
    env: Env, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = {"client_id": DOCUMENT_ID, "client_name": "Doc Assistant", "redirect_uris": [APP_REDIRECT],
            "token_endpoint_auth_method": "none"}  # fmt: skip
    policy = replace(registration_policy(env.ctx), allowed_auth_methods=DOCUMENT_AUTH_METHODS)
    document = validate_client_document(DOCUMENT_ID, json.dumps(body).encode(), policy)
    env.ctx.client_documents.documents.put(DOCUMENT_ID, document, env.clock.now() + 3600)  # as if just fetched
    verifier, challenge = pkce()
    async with env.browser() as ua:
        trip = await env.drive(ua, env.authorize_url(DOCUMENT_ID, challenge))
    r = await env.token(grant_type="authorization_code", code=trip.params["code"], redirect_uri=APP_REDIRECT,
                        client_id=DOCUMENT_ID, code_verifier=verifier)  # fmt: skip
    assert r.status_code == 200, r.text

    code, out = deputy(env, tmp_path, capsys, "clients", "disable", DOCUMENT_ID)
    assert code == 0 and "revoked 1 grant(s)" in out
    page = await authorize_page(env, DOCUMENT_ID)
    assert page.status_code == 403 and "Application disabled" in page.text
    r = await env.token(grant_type="refresh_token", refresh_token=r.json()["refresh_token"], client_id=DOCUMENT_ID)
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    code, out = deputy(env, tmp_path, capsys, "clients", "show", DOCUMENT_ID, "--json")
    assert json.loads(out)["disabled_at"] is not None

    assert deputy(env, tmp_path, capsys, "clients", "enable", DOCUMENT_ID)[0] == 0
    page = await authorize_page(env, DOCUMENT_ID)
    assert page.status_code == 200 and 'name="flow_id"' in page.text
