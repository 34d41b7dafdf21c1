"""What every fake provider shares: one auto-approving user, one-shot codes, PKCE, tokens, refresh policies, and a
log of exactly what Deputy sent.

Each provider module (``fake_github.py`` …) supplies only its wire format: paths, parameter names, client
authentication style, and its own success and error shapes, as documented by the provider. The log keeps every
request's parameters, headers and body so that tests can assert what went over the wire.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse

Refresh = Literal["none", "reusable", "rotating", "rotating_keep_old"]


@dataclass
class Call:
    """One request as the fake received it."""

    path: str
    headers: dict[str, str]
    content_type: str
    params: dict[str, Any]
    basic: tuple[str, str] | None = None


@dataclass
class Grant:
    """What an issued code stands for: the authorize request's parameters."""

    params: dict[str, Any]

    @property
    def challenge(self) -> str | None:
        value = self.params.get("code_challenge")
        return str(value) if value is not None else None


@dataclass
class FakeProvider:
    """State of one fake provider: its registered client, its one user, codes and tokens."""

    base_url: str
    client_id: str
    client_secret: str
    user: dict[str, Any]
    refresh: Refresh = "rotating"
    prefix: str = "fake"
    calls: list[Call] = field(default_factory=list)
    codes: dict[str, Grant] = field(default_factory=dict)
    access: set[str] = field(default_factory=set)
    refresh_tokens: set[str] = field(default_factory=set)
    reject_codes: bool = False  # answer every code exchange with the provider's "bad code" error
    reject_bearer: bool = False  # answer every API call as if the access token were invalid

    # -- recording -------------------------------------------------------------------------------------------
    async def record(self, request: Request) -> Call:
        raw = await request.body()
        content_type = request.headers.get("content-type", "").split(";")[0].strip()
        params: dict[str, Any] = dict(request.query_params)
        if content_type == "application/json" and raw:
            params.update(json.loads(raw))
        elif content_type == "application/x-www-form-urlencoded":
            params.update(parse_qsl(raw.decode()))
        call = Call(request.url.path, dict(request.headers), content_type, params, _basic(request))
        self.calls.append(call)
        return call

    def calls_to(self, path: str) -> list[Call]:
        return [c for c in self.calls if c.path == path]

    # -- the authorization endpoint: the user approves at once -------------------------------------------------
    def approve(self, call: Call, *, iss: str | None = None) -> RedirectResponse:
        """Issue a code for the recorded authorize request and send the browser back to ``redirect_uri``."""
        params = call.params
        code = f"{self.prefix}_code_{secrets.token_urlsafe(12)}"
        self.codes[code] = Grant(dict(params))
        back = {"code": code, "state": params.get("state", "")}
        if iss is not None:
            back["iss"] = iss
        return RedirectResponse(f"{params['redirect_uri']}?{urlencode(back)}", status_code=302)

    # -- the token endpoint ------------------------------------------------------------------------------------
    def client_ok(self, call: Call, *, style: Literal["basic", "post", "either"]) -> bool:
        basic_ok = call.basic == (self.client_id, self.client_secret)
        body_ok = (call.params.get("client_id"), call.params.get("client_secret")) == (
            self.client_id,
            self.client_secret,
        )
        return basic_ok if style == "basic" else body_ok if style == "post" else basic_ok or body_ok

    def redeem(self, call: Call) -> Grant | None:
        """The code's grant if the code exists (used once), matches the redirect URI and, when a challenge was
        sent, the verifier."""
        grant = self.codes.pop(str(call.params.get("code")), None)
        if grant is None or self.reject_codes or grant.params.get("redirect_uri") != call.params.get("redirect_uri"):
            return None
        if grant.challenge is not None:
            verifier = str(call.params.get("code_verifier", ""))
            digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            if not secrets.compare_digest(digest, grant.challenge):
                return None
        return grant

    def new_access(self) -> str:
        token = f"{self.prefix}_at_{secrets.token_urlsafe(12)}"
        self.access.add(token)
        return token

    def new_refresh(self) -> str | None:
        if self.refresh == "none":
            return None
        token = f"{self.prefix}_rt_{secrets.token_urlsafe(12)}"
        self.refresh_tokens.add(token)
        return token

    def use_refresh(self, token: object) -> tuple[str, str | None] | None:
        """(new access token, new refresh token or None) per this provider's rotation, or None if refused."""
        if not isinstance(token, str) or token not in self.refresh_tokens:
            return None
        if self.refresh == "reusable":
            return self.new_access(), None
        if self.refresh == "rotating":
            self.refresh_tokens.discard(token)
        return self.new_access(), self.new_refresh()

    def revoke_refresh_tokens(self) -> None:
        self.refresh_tokens.clear()

    def bearer_ok(self, request: Request) -> bool:
        auth = request.headers.get("authorization", "")
        return not self.reject_bearer and auth.startswith("Bearer ") and auth.removeprefix("Bearer ") in self.access

    def presented_refresh_tokens(self, path: str) -> list[str]:
        return [str(c.params["refresh_token"]) for c in self.calls_to(path) if "refresh_token" in c.params]


def _basic(request: Request) -> tuple[str, str] | None:
    auth = request.headers.get("authorization", "")
    if not auth.startswith("Basic "):
        return None
    user, _, password = base64.b64decode(auth.removeprefix("Basic ")).decode().partition(":")
    return user, password
