"""Deputy as an OAuth client of the third-party provider, through its one static client_id.

The only code that talks to the upstream authorization server. Every call has a timeout and a response-size bound;
every failure becomes an ``UpstreamError`` whose public text names no secret (the upstream's own error code is
kept for the log).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlencode, urlsplit

import httpx

from deputy.config import UpstreamSettings
from deputy.errors import DeputyError
from deputy.metrics import timed_upstream
from deputy.upstream import quirks as provider
from deputy.upstream.presets import Quirks, quirks_for

__all__ = ["UpstreamClient", "UpstreamEndpoints", "UpstreamError", "UpstreamIdentity", "UpstreamTokenResponse"]

MAX_RESPONSE_BYTES: Final = 256 * 1024


class UpstreamError(DeputyError):
    """The upstream refused or failed. ``error`` is an RFC 6749 code when the upstream gave one."""

    def __init__(self, message: str, *, error: str = "server_error", unavailable: bool = False) -> None:
        super().__init__(message)
        self.error = error
        self.unavailable = unavailable


@dataclass(frozen=True)
class UpstreamEndpoints:
    authorize_url: str
    token_url: str
    userinfo_url: str | None
    revocation_url: str | None
    issuer: str | None


@dataclass(frozen=True)
class UpstreamTokenResponse:
    access_token: str
    refresh_token: str | None
    expires_in: int | None
    scope: str | None
    raw: Mapping[str, Any]

    def __repr__(self) -> str:  # never let a token reach a log through repr()
        refresh = bool(self.refresh_token)
        return f"UpstreamTokenResponse(expires_in={self.expires_in}, scope={self.scope!r}, refresh={refresh})"


@dataclass(frozen=True)
class UpstreamIdentity:
    subject: str
    display_name: str


def _dig(data: Mapping[str, Any], path: str) -> object:
    """``a.b.c`` lookup into nested JSON, as providers nest the user id (Slack's ``authed_user.id``)."""
    value: object = data
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


class UpstreamClient:
    def __init__(
        self, settings: UpstreamSettings, endpoints: UpstreamEndpoints, *, callback_url: str, http: httpx.AsyncClient
    ) -> None:
        self.settings = settings
        self.endpoints = endpoints
        self.callback_url = callback_url
        self._http = http
        self._quirks = quirks_for(settings.preset)

    @staticmethod
    async def discover(settings: UpstreamSettings, http: httpx.AsyncClient) -> UpstreamEndpoints:
        """Explicit URLs win; otherwise RFC 8414 / OIDC discovery from ``discovery_url``.

        Raises:
            UpstreamError: the discovery document is unreachable or unusable.
        """
        if settings.discovery_url is None:
            assert settings.authorize_url is not None and settings.token_url is not None  # noqa: S101 (config)
            return UpstreamEndpoints(
                settings.authorize_url,
                settings.token_url,
                settings.userinfo_url,
                settings.revocation_url,
                settings.issuer,
            )
        doc = await _get_json(http, settings.discovery_url, timeout=settings.timeout_seconds)
        if quirks_for(settings.preset).discovery_issuer_must_match and doc.get("issuer") != settings.issuer:
            # OIDC Discovery §4.3: a document naming another issuer is a mix-up in the making.
            raise UpstreamError("upstream discovery document names another issuer")
        try:
            return UpstreamEndpoints(
                settings.authorize_url or str(doc["authorization_endpoint"]),
                settings.token_url or str(doc["token_endpoint"]),
                settings.userinfo_url or (str(doc["userinfo_endpoint"]) if doc.get("userinfo_endpoint") else None),
                settings.revocation_url
                or (str(doc["revocation_endpoint"]) if doc.get("revocation_endpoint") else None),
                settings.issuer or (str(doc["issuer"]) if doc.get("issuer") else None),
            )
        except KeyError as exc:
            raise UpstreamError(f"upstream discovery document lacks {exc}") from None

    def authorize_url(
        self, *, state: str, scopes: tuple[str, ...], code_challenge: str | None, resource: str | None
    ) -> str:
        params: dict[str, str] = {
            **self.settings.extra_authorize_params,
            "response_type": "code",
            "client_id": self.settings.client_id,
            "redirect_uri": self.callback_url,
            "state": state,
        }
        if scopes:
            params[self._quirks.scope_param] = self.settings.scope_separator.join(scopes)
        if code_challenge is not None:
            params["code_challenge"] = code_challenge
            params["code_challenge_method"] = "S256"
        if resource is not None and self.settings.forward_resource:
            params["resource"] = resource
        sep = "&" if urlsplit(self.endpoints.authorize_url).query else "?"
        return self.endpoints.authorize_url + sep + urlencode(params)

    async def exchange_code(self, code: str, *, code_verifier: str | None) -> UpstreamTokenResponse:
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": self.callback_url}
        if code_verifier is not None:
            form["code_verifier"] = code_verifier
        return await self._token_request(form)

    async def refresh(self, refresh_token: str) -> UpstreamTokenResponse:
        return await self._token_request({"grant_type": "refresh_token", "refresh_token": refresh_token})

    async def identify(self, tokens: UpstreamTokenResponse) -> UpstreamIdentity:
        """The user's stable upstream id, from the token response or the userinfo endpoint."""
        if self.settings.user_id_from == "token_response":
            data: Mapping[str, Any] = tokens.raw
        else:
            if self.endpoints.userinfo_url is None:
                raise UpstreamError("upstream has no userinfo endpoint")
            headers = {
                "Authorization": f"Bearer {tokens.access_token}",
                "Accept": "application/json",
                **self._quirks.identity_headers,
            }
            data = await self._identity_document(self.endpoints.userinfo_url, headers)
        subject = _dig(data, self.settings.user_id_claim)
        if not isinstance(subject, str | int) or isinstance(subject, bool) or str(subject) == "":
            raise UpstreamError("upstream did not identify the user")
        name = _dig(data, self.settings.user_name_claim)
        return UpstreamIdentity(str(subject), str(name)[:200] if isinstance(name, str) and name else str(subject))

    async def _identity_document(self, url: str, headers: dict[str, str]) -> dict[str, Any]:
        """GET the userinfo URL, or POST the preset's GraphQL query to it (Linear has no REST userinfo)."""
        timeout = self.settings.timeout_seconds
        if self._quirks.identity_query is None:
            return await _get_json(self._http, url, timeout=timeout, headers=headers)
        query = {"query": self._quirks.identity_query}
        return await _post_json(self._http, url, timeout=timeout, headers=headers, body=query)

    @timed_upstream("token")
    async def _token_request(self, form: dict[str, str]) -> UpstreamTokenResponse:
        auth: httpx.Auth | None = None
        secret = self.settings.client_secret.get_secret_value() if self.settings.client_secret else None
        if self.settings.token_auth_method == "client_secret_basic" and secret is not None:
            auth = httpx.BasicAuth(self.settings.client_id, secret)
        else:
            form = {**form, "client_id": self.settings.client_id}
            if self.settings.token_auth_method == "client_secret_post" and secret is not None:
                form["client_secret"] = secret
        body: dict[str, Any] = {"json": form} if self._quirks.token_format == "json" else {"data": form}
        try:
            resp = await self._http.post(
                self.endpoints.token_url,
                **body,
                auth=auth or httpx.USE_CLIENT_DEFAULT,
                headers={"Accept": "application/json"},
                timeout=self.settings.timeout_seconds,
            )
        except httpx.HTTPError as exc:
            raise UpstreamError(
                f"upstream token endpoint unreachable ({type(exc).__name__})", unavailable=True
            ) from None
        if self._quirks.token_response == "oauth2":
            return _parse_token_response(resp)
        return _parse_provider_token_response(resp, self._quirks)


def _parse_token_response(resp: httpx.Response) -> UpstreamTokenResponse:
    data = _json_body(resp)
    if resp.status_code != 200:
        code = data.get("error") if isinstance(data.get("error"), str) else None
        raise UpstreamError(
            f"upstream token endpoint refused ({resp.status_code}, {code})",
            error=str(code or "server_error"),
            unavailable=resp.status_code >= 500,
        )
    return _token_fields(data, raw=data)


def _parse_provider_token_response(resp: httpx.Response, quirks: Quirks) -> UpstreamTokenResponse:
    """A token response read with a preset's strategy (``deputy.upstream.quirks``): errors that arrive with HTTP
    200, nested user tokens, error codes in other fields, provider codes translated to RFC 6749 ones."""
    style = quirks.token_response
    data = _form_body(resp) if style == "github" and _is_form(resp) else _json_body(resp)
    code = provider.provider_error(style, resp.status_code, data)
    if code is not None:
        raise UpstreamError(
            f"upstream token endpoint refused ({resp.status_code}, {code})",
            error=quirks.error_codes.get(code, code),
            unavailable=resp.status_code >= 500 or code in quirks.unavailable_codes,
        )
    return _token_fields(provider.user_token(style, data), raw=data)


def _token_fields(data: Mapping[str, Any], *, raw: Mapping[str, Any]) -> UpstreamTokenResponse:
    token = data.get("access_token")
    if not isinstance(token, str) or not token:
        raise UpstreamError("upstream token response has no access_token")
    refresh = data.get("refresh_token")
    expires_in = data.get("expires_in")
    scope = data.get("scope")
    return UpstreamTokenResponse(
        access_token=token,
        refresh_token=refresh if isinstance(refresh, str) and refresh else None,
        expires_in=_lifetime(expires_in),
        scope=scope if isinstance(scope, str) else None,
        raw=raw,
    )


def _is_form(resp: httpx.Response) -> bool:
    content_type = str(resp.headers.get("content-type", ""))
    return content_type.split(";")[0].strip() == "application/x-www-form-urlencoded"


def _form_body(resp: httpx.Response) -> dict[str, Any]:
    if len(resp.content) > MAX_RESPONSE_BYTES:
        raise UpstreamError("upstream response too large")
    try:
        return provider.decode_form(resp.content)
    except ValueError:
        raise UpstreamError(f"upstream answered {resp.status_code} with a body that is not form data") from None


def _lifetime(value: object) -> int | None:
    """``expires_in`` as whole seconds, or None for anything that is not a sane finite number (NaN, 1e400, -5)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not math.isfinite(value) or not 0 < value <= 10 * 365 * 86400:
        return None
    return int(value)


def _json_body(resp: httpx.Response) -> dict[str, Any]:
    if len(resp.content) > MAX_RESPONSE_BYTES:
        raise UpstreamError("upstream response too large")
    try:
        data = json.loads(resp.content)
    except ValueError:
        # Not an answer from the provider's OAuth server at all (typically the HTML error page of a proxy in front
        # of it): a malfunction to retry later, not a refusal that would send the user to authorize again.
        raise UpstreamError(
            f"upstream answered {resp.status_code} with a body that is not JSON", unavailable=True
        ) from None
    if not isinstance(data, dict):
        raise UpstreamError("upstream answered with JSON that is not an object")
    return data


async def _get_json(
    http: httpx.AsyncClient, url: str, *, timeout: float, headers: Mapping[str, str] | None = None
) -> dict[str, Any]:
    try:
        resp = await http.get(url, headers=dict(headers or {"Accept": "application/json"}), timeout=timeout)
    except httpx.HTTPError as exc:
        raise UpstreamError(f"upstream unreachable ({type(exc).__name__})", unavailable=True) from None
    if resp.status_code != 200:
        raise UpstreamError(f"upstream answered {resp.status_code}", unavailable=resp.status_code >= 500)
    return _json_body(resp)


async def _post_json(
    http: httpx.AsyncClient, url: str, *, timeout: float, headers: Mapping[str, str], body: object
) -> dict[str, Any]:
    try:
        resp = await http.post(url, json=body, headers=dict(headers), timeout=timeout)
    except httpx.HTTPError as exc:
        raise UpstreamError(f"upstream unreachable ({type(exc).__name__})", unavailable=True) from None
    if resp.status_code != 200:
        raise UpstreamError(f"upstream answered {resp.status_code}", unavailable=resp.status_code >= 500)
    return _json_body(resp)
