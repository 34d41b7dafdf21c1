"""Helpers for the consent tests: browsers that say where a navigation came from, a first connection approved on
the page, and a configuration file equivalent to an ``Env`` for the operator commands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from deputy.storage.sql.identity import ConsentEntry
from deputy.storage.sql.schema import audit_events
from support import ALICE, APP_REDIRECT, DEPUTY, RESOURCE, Env, Trip, make_env, pkce

REMEMBER = {"prompt": "remember", "remember_days": 30}


def remember_env(tmp_path: Path, db_url: str | None = None, **consent: Any) -> Env:
    return make_env(tmp_path, db_url, consent={**REMEMBER, **consent})


def browser(env: Env, fetch_site: str | None = "none") -> httpx.AsyncClient:
    """A browser whose navigations carry ``Sec-Fetch-Site`` (``None``: an old browser that sends no such header)."""
    headers = {"sec-fetch-site": fetch_site} if fetch_site is not None else {}
    return httpx.AsyncClient(transport=env.router(), base_url=DEPUTY, follow_redirects=False, headers=headers)


async def connect(
    env: Env,
    ua: httpx.AsyncClient,
    client_id: str,
    *,
    user: tuple[str, str] = ALICE,
    redirect_uri: str = APP_REDIRECT,
    deputy_action: str | None = "approve",
    **extra: str,
) -> tuple[Trip, str]:
    """One authorization in ``ua``; returns the trip and the PKCE verifier of its code."""
    verifier, challenge = pkce()
    url = env.authorize_url(client_id, challenge, redirect_uri=redirect_uri, **extra)
    return await env.drive(ua, url, user=user, deputy_action=deputy_action), verifier


async def redeem(
    env: Env, trip: Trip, verifier: str, client_id: str, redirect_uri: str = APP_REDIRECT
) -> httpx.Response:
    return await env.token(grant_type="authorization_code", code=trip.params["code"], redirect_uri=redirect_uri,
                           client_id=client_id, code_verifier=verifier, resource=RESOURCE)  # fmt: skip


def events(env: Env, name: str) -> list[dict[str, Any]]:
    with env.ctx.store.read() as tx:
        rows = tx.conn.execute(select(audit_events).where(audit_events.c.event == name).order_by(audit_events.c.seq))
        return [{**json.loads(r.detail), "client_id": r.client_id, "user_id": r.user_id, "outcome": r.outcome}
                for r in rows]  # fmt: skip


def user_id(env: Env, subject: str) -> str:
    with env.ctx.store.read() as tx:
        user = tx.users.load_by_subject(subject)
    assert user is not None, subject
    return user.user_id


def entries(env: Env, uid: str) -> list[ConsentEntry]:
    with env.ctx.store.read() as tx:
        return tx.consents.list_entries(uid)


def upstream_authorizations(env: Env) -> int:
    return int(env.acme_app.state.acme_stats.authorize_requests)


def write_config(env: Env, path: Path) -> Path:
    """The TOML file an operator would have for this ``Env``: same database, same key ring, same upstream."""
    s = env.settings
    assert s.upstream.client_secret is not None
    lines = [
        "[server]", f'base_url = "{s.server.base_url}"',
        "[storage]", f'url = "{s.storage.url}"',
        "[keys]", f'file = "{s.keys.file}"',
        "[upstream]", f'name = "{s.upstream.name}"', f'discovery_url = "{s.upstream.discovery_url}"',
        f'client_id = "{s.upstream.client_id}"', f'client_secret = "{s.upstream.client_secret.get_secret_value()}"',
        "scopes = " + json.dumps(list(s.upstream.scopes)),
        "[consent]", f'prompt = "{s.consent.prompt}"', f"remember_days = {s.consent.remember_days}",
    ]  # fmt: skip
    lines.insert(0, "default_scopes = " + json.dumps(list(s.default_scopes)))
    for name, scope in s.scopes.items():
        lines += [f'[scopes."{name}"]', f"description = {json.dumps(scope.description)}",
                  "upstream = " + json.dumps(list(scope.upstream))]  # fmt: skip
    for client in s.clients:
        lines += ["[[clients]]", f'client_id = "{client.client_id}"', f"client_name = {json.dumps(client.client_name)}",
                  "redirect_uris = " + json.dumps(list(client.redirect_uris))]  # fmt: skip
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
