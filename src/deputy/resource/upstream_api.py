"""The brokered API client: the one place a tool call meets the upstream credential, and only for one request.

Tool code hands over an ``UpstreamRequest`` and a user id; this client asks the ``CredentialSource`` for that user's
token, puts it into the ``Authorization`` header of exactly that request (never into the shared HTTP client, whose
cookies are stripped too, so nothing leaks from one user's call into another's), and returns only the status and
the parsed JSON. It refreshes once on a 401, never follows a redirect (that would carry the token, or the call,
somewhere else), bounds time and response size, and turns every failure into a ``ToolCallError`` whose message is
safe to show an MCP client: it never contains the token, and the upstream's own words only as a short, sanitised
excerpt. ``map_status`` is the pure status-to-outcome table.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Final, Literal, NoReturn, Protocol
from urllib.parse import unquote

import anyio
import httpx

from deputy.errors import ConfigError, DeputyError
from deputy.metrics import timed_upstream
from deputy.resource.requests import UpstreamRequest

__all__ = [
    "BrokeredApiClient",
    "CallGrant",
    "CredentialSource",
    "DownstreamTarget",
    "ToolCallError",
    "ToolCallKind",
    "UpstreamResult",
    "map_status",
    "parse_retry_after",
    "sanitize",
]

ToolCallKind = Literal["reauthorize", "rate_limited", "unavailable", "rejected", "not_found", "bad_response"]

MAX_DETAIL: Final = 200
MAX_RETRY_AFTER: Final = 3600
_BEARER = re.compile(r"(?i)\bbearer\s+[^\s,;\"']+")
_OPAQUE = re.compile(r"[A-Za-z0-9_\-.~+/=]{32,}")  # anything token-shaped: long unbroken base64/hex-ish runs
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")  # RFC 6750 §2.1
_PATH = re.compile(r"/[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*")


@dataclass(frozen=True)
class CallGrant:
    """The handle a tool call carries into the broker: for whom, through which client, with which scopes. Tool
    code holds this, never a credential; the broker resolves it to the user's upstream token per request."""

    user_id: str
    client_id: str
    scopes: frozenset[str]
    grant_id: str = ""
    jti: str = ""
    expires_at: int = 0


@dataclass(frozen=True)
class DownstreamTarget:
    """A service that trusts Deputy: calls go to ``base_url`` with a token ``mint`` exchanges for the caller's grant
    and the operation's scope (RFC 8693), never with the upstream credential and never with the caller's token."""

    base_url: str
    mint: Callable[[CallGrant, str | None], Awaitable[str]]


class CredentialSource(Protocol):
    """The broker's side of a call. Raise ``ToolCallError("reauthorize", …)`` when the user has no usable grant."""

    async def access_token(self, user_id: str) -> str: ...

    async def refreshed_access_token(self, user_id: str, stale: str | None = None) -> str:
        """A new access token; called once when the upstream answered 401 to ``stale``. If the stored token is
        no longer ``stale`` (a concurrent call refreshed it), that newer token is the answer: no second refresh."""
        ...


@dataclass(frozen=True)
class UpstreamResult:
    """What a tool gets back: the status and the parsed JSON body (None for 204). No headers, no credential."""

    status: int
    data: object


class ToolCallError(DeputyError):
    """The upstream call failed. ``message`` is public (shown to the MCP client); ``kind`` says what to do next."""

    def __init__(self, kind: ToolCallKind, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.kind: ToolCallKind = kind
        self.message = message
        self.retry_after = retry_after


# --- pure mapping ---------------------------------------------------------------------------------------------


def sanitize(text: str, redact: Iterable[str] = ()) -> str:
    """A short, single-line excerpt of upstream text with the given secrets and anything token-shaped removed."""
    for secret in redact:
        if secret:
            text = text.replace(secret, "[redacted]")
    text = _BEARER.sub("Bearer [redacted]", text)
    text = _OPAQUE.sub("[redacted]", text)
    text = " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())
    return text if len(text) <= MAX_DETAIL else text[: MAX_DETAIL - 1] + "…"


def parse_retry_after(value: str | None) -> int | None:
    """``Retry-After`` as delay-seconds, capped at an hour; an HTTP-date or garbage gives None."""
    text = (value or "").strip()
    if not text.isascii() or not text.isdigit() or len(text) > 10:
        return None
    return min(int(text), MAX_RETRY_AFTER)


def map_status(
    status: int, body: bytes, *, retry_after: str | None = None, redact: Iterable[str] = ()
) -> UpstreamResult:
    """The outcome of one upstream response (after any 401 retry): a result for 2xx, else the ToolCallError.

    Raises:
        ToolCallError: 401 ``reauthorize``; 403, 400/409/422 and other 4xx ``rejected``; 404/410 ``not_found``;
            429 ``rate_limited``; 408 and 5xx ``unavailable``; 3xx, non-JSON 2xx and odd statuses ``bad_response``.
    """
    secrets = tuple(s for s in redact if s)
    if 200 <= status < 300:
        return _success(status, body, secrets)
    detail = _detail(_loads(body), secrets)
    raise _failure(status, detail, parse_retry_after(retry_after))


def _success(status: int, body: bytes, secrets: tuple[str, ...]) -> UpstreamResult:
    if status == 204:
        return UpstreamResult(204, None)
    data = _loads(body)
    if data is _NOT_JSON:
        raise ToolCallError("bad_response", f"the upstream answered {status} without a JSON body")
    return UpstreamResult(status, _scrub(data, secrets) if _echoes(body, secrets) else data)


def _echoes(body: bytes, secrets: tuple[str, ...]) -> bool:
    """Whether the raw body may contain a secret, so the (costly) walk over the parsed result is needed.

    The fast answer "certainly absent" is given only when it is certain: the body is UTF-8 JSON (``json.loads``
    also reads UTF-16 and UTF-32, where a byte search finds nothing), it has no ``\\u`` escape, and every secret
    is made of RFC 6750 ``b64token`` characters, which JSON writes literally except ``/`` (sometimes ``\\/``).
    Anything else runs the walk.
    """
    if body[:3] == b"\xef\xbb\xbf" or b"\x00" in body[:4] or b"\\u" in body:
        return True
    for secret in secrets:
        if not _B64TOKEN.fullmatch(secret):
            return True
        raw = secret.encode("ascii")
        if raw in body or raw.replace(b"/", b"\\/") in body:
            return True
    return False


def _failure(status: int, detail: str, retry_after: int | None) -> ToolCallError:
    if 300 <= status < 400:
        return ToolCallError("bad_response", "the upstream answered with a redirect, which is never followed")
    if status == 401:
        return ToolCallError(
            "reauthorize", "the upstream no longer accepts this account's authorization; the user must authorize again"
        )
    if status == 403:
        return ToolCallError("rejected", "the upstream refused this operation for this account")
    if status in (404, 410):
        return ToolCallError("not_found", "the upstream has no such resource")
    if status == 429:
        return ToolCallError("rate_limited", "the upstream is rate limiting requests", retry_after=retry_after)
    if status == 408 or 500 <= status < 600:
        return ToolCallError("unavailable", f"the upstream is unavailable (HTTP {status})")
    if 400 <= status < 500:
        return ToolCallError("rejected", "the upstream rejected the request" + (f": {detail}" if detail else ""))
    return ToolCallError("bad_response", f"the upstream answered with an unexpected status ({status})")


_NOT_JSON: Final = object()


def _loads(body: bytes) -> object:
    try:
        return json.loads(body, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        return _NOT_JSON


def _no_constant(name: str) -> NoReturn:
    raise ValueError(name)


def _detail(data: object, secrets: tuple[str, ...]) -> str:
    """The upstream's own short explanation (``error_description``, ``message``, ``detail`` or ``error``)."""
    if isinstance(data, Mapping) and isinstance(data.get("error"), Mapping):
        data = data["error"]  # {"error": {"message": …}}
    if not isinstance(data, Mapping):
        return ""
    for key in ("error_description", "message", "detail", "error"):
        value = data.get(key)
        if isinstance(value, str) and value.strip():
            return sanitize(value, secrets)
    return ""


def _scrub(data: object, secrets: tuple[str, ...]) -> object:
    """The data with any echo of the credential replaced: a result must never carry the token onward."""
    if not secrets:
        return data
    if isinstance(data, str):
        for secret in secrets:
            data = data.replace(secret, "[redacted]")
        return data
    if isinstance(data, dict):
        return {_scrub(key, secrets): _scrub(value, secrets) for key, value in data.items()}
    if isinstance(data, list):
        return [_scrub(item, secrets) for item in data]
    return data


# --- I/O ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Response:
    status: int
    body: bytes
    retry_after: str | None


class BrokeredApiClient:
    """Calls the upstream API for a user, with that user's credential injected into that request only.

    ``http`` should not follow redirects or carry auth of its own; either way, this client overrides both per
    request. An empty ``base_url`` (no API configured) is accepted and makes every call ``unavailable``.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        base_url: str,
        credentials: CredentialSource,
        *,
        timeout: float = 10.0,
        max_response_bytes: int = 1_000_000,
        downstream: Mapping[str, DownstreamTarget] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self._http = http
        self._headers = dict(headers or {})  # upstream API only (e.g. an API version), never for downstream calls
        self._base = _checked_base_url(base_url) if base_url else ""
        self._downstream = {
            name: DownstreamTarget(_checked_base_url(t.base_url), t.mint) for name, t in (downstream or {}).items()
        }
        self._credentials = credentials
        self._timeout = timeout
        self._max_bytes = max_response_bytes

    async def call(self, grant: CallGrant, request: UpstreamRequest) -> UpstreamResult:
        """Send ``request`` for the grant's user; on a 401, refresh the token once and send it again.

        The grant must hold the scope the operation needs: the MCP gate checked it already, and the broker checks
        again at the moment it would use the credential, so no code path between them can widen a call.

        Raises:
            ToolCallError: see ``map_status``; also ``rejected`` for a scope the grant lacks or a path that could
                leave the API's base path, ``unavailable`` for timeouts and network errors, ``bad_response`` for an
                oversized body.
        """
        if request.scope is not None and request.scope not in grant.scopes:
            raise ToolCallError("rejected", f"this operation needs the {request.scope} scope, which was not granted")
        if request.downstream is not None:
            return await self._call_downstream(grant, request)
        user_id = grant.user_id
        url = self._url(request.path)
        token = await self._credentials.access_token(user_id)
        used = [token]
        response = await self._exchange(url, request, token)
        if response.status == 401:
            token = await self._credentials.refreshed_access_token(user_id, stale=token)
            used.append(token)
            response = await self._exchange(url, request, token)
        return map_status(response.status, response.body, retry_after=response.retry_after, redact=used)

    async def _call_downstream(self, grant: CallGrant, request: UpstreamRequest) -> UpstreamResult:
        """One call to a downstream service with a freshly exchanged, audience-bound token. A 401 there is not
        retried: the token was minted for this very call, so a refusal is the service's policy, not expiry."""
        target = self._downstream.get(request.downstream or "")
        if target is None:
            raise ToolCallError("unavailable", "this tool's downstream service is not configured")
        url = self._url(request.path, target.base_url)
        token = await target.mint(grant, request.scope)
        response = await self._exchange(url, request, token)
        if response.status == 401:
            raise ToolCallError("rejected", "the downstream service refused the token Deputy minted for this call")
        return map_status(response.status, response.body, retry_after=response.retry_after, redact=[token])

    def _url(self, path: str, base: str | None = None) -> str:
        base = self._base if base is None else base
        if not base:
            raise ToolCallError("unavailable", "no upstream API is configured")
        if not _PATH.fullmatch(path) or path.startswith("//") or ".." in _decoded(path):
            raise ToolCallError("rejected", "the request path is not allowed")
        return base + path

    async def _exchange(self, url: str, request: UpstreamRequest, token: str) -> _Response:
        if not token or not token.isascii() or not token.isprintable() or " " in token:
            raise ToolCallError("reauthorize", "the stored upstream credential is unusable; authorize again")
        try:
            with anyio.fail_after(self._timeout):
                return await self._send(url, request, token)
        except (TimeoutError, httpx.TimeoutException):
            raise ToolCallError("unavailable", "the upstream did not answer in time") from None
        except httpx.DecodingError:
            raise ToolCallError("bad_response", "the upstream response could not be decoded") from None
        except httpx.HTTPError as exc:  # the exception's request carries the header: keep only its type
            raise ToolCallError("unavailable", f"the upstream is unreachable ({type(exc).__name__})") from None

    @timed_upstream("api")
    async def _send(self, url: str, request: UpstreamRequest, token: str) -> _Response:
        extra = self._headers if request.downstream is None else {}
        sent = self._http.build_request(
            request.method,
            url,
            params=list(request.query) or None,
            json=request.json,
            headers={"Accept": "application/json", **extra, "Authorization": f"Bearer {token}"},
            timeout=self._timeout,
        )
        sent.headers.pop("cookie", None)  # a shared cookie jar must not carry one user's session into another's call
        response = await self._http.send(sent, stream=True, auth=None, follow_redirects=False)
        try:
            body = b"" if 300 <= response.status_code < 400 else await self._read(response)
        finally:
            await response.aclose()
        return _Response(response.status_code, body, response.headers.get("retry-after"))

    async def _read(self, response: httpx.Response) -> bytes:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self._max_bytes:
            _too_large()
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > self._max_bytes:
                _too_large()
            chunks.append(chunk)
        return b"".join(chunks)


def _too_large() -> NoReturn:
    raise ToolCallError("bad_response", "the upstream response is larger than allowed")


def _decoded(path: str) -> str:
    """Percent-decoding until nothing changes (bounded), so ``%252e%252e`` is seen as ``..`` too."""
    for _ in range(4):
        decoded = unquote(path)
        if decoded == path:
            break
        path = decoded
    return path


def _checked_base_url(base_url: str) -> str:
    try:
        url = httpx.URL(base_url)
    except httpx.InvalidURL:
        raise ConfigError("upstream.api_base_url: not a valid URL") from None
    if url.scheme not in ("http", "https") or not url.host or url.userinfo or url.query or url.fragment:
        raise ConfigError("upstream.api_base_url: must be an http(s) URL without credentials, query or fragment")
    return base_url.rstrip("/")
