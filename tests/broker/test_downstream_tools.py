"""A catalogue tool aimed at a downstream service that trusts Deputy: each call carries a token exchanged for that
service (RFC 8693), never the upstream credential and never the caller's own token."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from broker_support import call_tool
from joserfc import jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from deputy.errors import ConfigError
from support import ACME, Env, make_env

pytestmark = pytest.mark.anyio

REPORTS = "https://reports.example"
CATALOGUE = """
version = 1

[tools.reports_whoami]
description = "Ask the reports service who is calling"
method = "GET"
path = "/whoami"
scope = "crm.read"
kind = "read"
downstream = "reports"
input_schema = '{"type": "object", "properties": {}, "additionalProperties": false}'

[tools.reports_annotate]
description = "Annotate a report"
method = "POST"
path = "/annotate"
scope = "crm.read"
kind = "write"
downstream = "reports"
input_schema = '{"type": "object", "properties": {"text": {"type": "string"}}, "additionalProperties": false}'

[tools.reports_publish]
description = "Publish a report"
method = "POST"
path = "/publish"
scope = "crm.write"
kind = "read"
downstream = "reports"
input_schema = '{"type": "object", "properties": {}, "additionalProperties": false}'
"""


class Reports:
    """The downstream service: verifies Deputy's signature and its own audience, and records what it received."""

    def __init__(self, env: Env) -> None:
        self.env = env
        self.seen: list[dict[str, Any]] = []
        self.headers: list[str] = []
        self.app = Starlette(routes=[Route("/api/{op}", self.handle, methods=["GET", "POST"])])

    async def handle(self, request: Request) -> JSONResponse:
        auth = request.headers.get("authorization", "")
        self.headers.append(auth)
        token = auth.removeprefix("Bearer ")
        decoded = jwt.decode(token, self.env.ctx.keys.verify_set, algorithms=["ES256"])
        claims = dict(decoded.claims)
        if decoded.header.get("typ") != "at+jwt" or claims.get("aud") != REPORTS:
            return JSONResponse({"error": "invalid_token"}, status_code=401)
        self.seen.append(claims)
        return JSONResponse({"sub": claims["sub"], "act": claims["act"], "scope": claims["scope"]})


def _env(tmp_path: Path, **service: Any) -> Env:
    catalogue = tmp_path / "tools.toml"
    catalogue.write_text(CATALOGUE, encoding="utf-8")
    reports = {"audience": REPORTS, "scopes": ["crm.read"], "api_base_url": REPORTS + "/api", **service}
    return make_env(
        tmp_path,
        tools={"catalogue": str(catalogue)},
        upstream={"api_base_url": ACME + "/api/v1"},
        downstream={"reports": reports},
    )


def _route(env: Env, reports: Reports) -> None:
    env.app.state.deps.http._transport.apps["reports.example"] = httpx.ASGITransport(app=reports.app)  # type: ignore[attr-defined]


async def test_a_downstream_tool_gets_an_audience_bound_exchanged_token(tmp_path: Path) -> None:
    env = _env(tmp_path)
    reports = Reports(env)
    _route(env, reports)
    async with env.app.router.lifespan_context(env.app):  # type: ignore[attr-defined]
        client, tokens = await env.full_flow(scope="crm.read crm.write")
        result = await call_tool(env.app, tokens["access_token"], "reports_whoami")
        assert result["isError"] is False, result
        with env.ctx.store.read() as tx:
            exchanged = tx.audit.events("token.exchanged")
    (claims,) = reports.seen
    assert claims["aud"] == REPORTS and claims["scope"] == "crm.read"  # narrowed to the tool's scope
    assert claims["act"] == {"sub": client["client_id"]} and claims["client_id"] == client["client_id"]
    assert claims["exp"] - claims["iat"] <= 60
    assert tokens["access_token"] not in reports.headers[0]  # the caller's token is never forwarded
    assert "acme_" not in json.dumps(reports.headers)  # nor the upstream credential
    assert len(exchanged) == 1 and exchanged[0]["detail"].get("audience") == REPORTS
    assert json.loads(result["content"][0]["text"])["act"] == {"sub": client["client_id"]}


async def test_a_scope_outside_the_services_policy_is_refused_before_any_call(tmp_path: Path) -> None:
    env = _env(tmp_path)
    reports = Reports(env)
    _route(env, reports)
    async with env.app.router.lifespan_context(env.app):  # type: ignore[attr-defined]
        _, tokens = await env.full_flow(scope="crm.read crm.write")
        result = await call_tool(env.app, tokens["access_token"], "reports_publish")  # crm.write: not allowed there
        with env.ctx.store.read() as tx:
            refused = tx.audit.events("token.exchange_refused")
    assert result["isError"] is True and "may not call reports" in result["content"][0]["text"]
    assert reports.headers == [] and len(refused) == 1


async def test_a_client_the_service_does_not_admit_is_refused(tmp_path: Path) -> None:
    env = _env(tmp_path, clients=["some-other-client"])
    reports = Reports(env)
    _route(env, reports)
    async with env.app.router.lifespan_context(env.app):  # type: ignore[attr-defined]
        _, tokens = await env.full_flow(scope="crm.read")
        result = await call_tool(env.app, tokens["access_token"], "reports_whoami")
    assert result["isError"] is True and reports.headers == []


def test_a_tool_naming_an_unconfigured_service_stops_start_up(tmp_path: Path) -> None:
    catalogue = tmp_path / "tools.toml"
    catalogue.write_text(CATALOGUE, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"tools\.reports_whoami\.downstream"):
        make_env(tmp_path, tools={"catalogue": str(catalogue)}, upstream={"api_base_url": ACME + "/api/v1"})


async def test_a_guarded_downstream_write_names_the_downstream_target_on_the_confirmation_page(tmp_path: Path) -> None:
    env = _env(tmp_path)
    reports = Reports(env)
    _route(env, reports)
    async with env.app.router.lifespan_context(env.app), env.browser() as browser:  # type: ignore[attr-defined]
        _, tokens = await env.full_flow(browser, scope="crm.read")
        drafted = await call_tool(env.app, tokens["access_token"], "reports_annotate", {"text": "hi"})
        url = drafted["structuredContent"]["confirmation_url"]
        page = await browser.get(url.removeprefix(env.settings.issuer))
    assert reports.headers == []  # a draft: nothing reached the service
    assert page.status_code == 200
    assert REPORTS + "/api/annotate" in page.text and "reports" in page.text
    assert "Acme" not in page.text.split("<h1>", 1)[1].split("</h1>", 1)[0]
