"""Shared pieces of the token-exchange tests: downstream services, an exchange request, a /jwks check."""

from __future__ import annotations

import base64
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
from joserfc import jwt
from joserfc.jwk import KeySet

from deputy.broker.exchange import ACCESS_TOKEN_TYPE, GRANT_TYPE
from support import APP_REDIRECT, RESOURCE, Env, make_env, pkce

REPORTS = "https://reports.example"
REPORTS_API = "https://reports.example/api"
LEDGER = "https://ledger.example"
BILLING = "billing"  # a logical-name audience
STATIC_CLIENT = "static-billing-client"

DOWNSTREAM: dict[str, Any] = {
    "reports": {"audience": REPORTS, "resources": [REPORTS_API], "scopes": ["crm.read"]},
    "billing": {"audience": BILLING, "scopes": ["crm.read", "crm.write"], "clients": [STATIC_CLIENT]},
    "ledger": {
        "audience": "https://ledger.example",
        "scopes": ["crm.read", "crm.write"],
        "token_lifetime_seconds": 300,
    },
}


def exchange_env(tmp_path: Path, db_url: str | None = None, **overrides: Any) -> Env:
    return make_env(tmp_path, db_url, downstream=DOWNSTREAM, **overrides)


async def exchange(
    env: Env, client_id: str | None, subject_token: str | None, *, auth: tuple[str, str] | None = None, **extra: Any
) -> httpx.Response:
    """POST a token-exchange request; list values in ``extra`` become repeated parameters."""
    form: dict[str, Any] = {"grant_type": GRANT_TYPE, "subject_token_type": ACCESS_TOKEN_TYPE}
    if client_id is not None:
        form["client_id"] = client_id
    if subject_token is not None:
        form["subject_token"] = subject_token
    form.update(extra)
    async with env.api() as api:
        r = await api.post("/token", data=form, auth=httpx.BasicAuth(*auth) if auth else httpx.USE_CLIENT_DEFAULT)
    assert r.headers["cache-control"] == "no-store"
    return r


async def decode_with_jwks(env: Env, token: str) -> jwt.Token:
    """Verify a token the way a downstream service would: against the published /jwks only."""
    async with env.api() as api:
        keys = KeySet.import_key_set((await api.get("/jwks")).json())
    return jwt.decode(token, keys, algorithms=["ES256"])


def audit_events(env: Env, event: str) -> list[dict[str, Any]]:
    with env.ctx.store.read() as tx:
        return tx.audit.events(event)


def load_example() -> ModuleType:
    """examples/downstream_service.py, imported by path (examples/ is not a package)."""
    name = "downstream_service_example"
    if name in sys.modules:
        return sys.modules[name]
    path = Path(__file__).resolve().parents[2] / "examples" / "downstream_service.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


async def tokens_for(
    env: Env, client_id: str, *, secret: str | None = None, scope: str | None = None
) -> dict[str, Any]:
    """Take an existing client (pre-registered, or confidential with ``secret``) through consent to tokens."""
    verifier, challenge = pkce()
    extra = {"scope": scope} if scope else {}
    async with env.browser() as browser:
        trip = await env.drive(browser, env.authorize_url(client_id, challenge, **extra))
    form = {
        "grant_type": "authorization_code",
        "code": trip.params["code"],
        "redirect_uri": APP_REDIRECT,
        "client_id": client_id,
        "code_verifier": verifier,
        "resource": RESOURCE,
    }
    async with env.api() as api:
        r = await api.post(
            "/token", data=form, auth=httpx.BasicAuth(client_id, secret) if secret else httpx.USE_CLIENT_DEFAULT
        )
    assert r.status_code == 200, r.text
    return dict(r.json())


def unverified_claims(token: str) -> dict[str, Any]:
    """A JWT's payload without verification, to compare with what a verified decode returned."""
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))
