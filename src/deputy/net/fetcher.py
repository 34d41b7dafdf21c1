"""The SSRF-safe fetcher: the only code that connects to a URL a client chose.

One fetch, start to finish:

1. The URL must parse under ``deputy.net.urls`` (https, one reading of the host) and pass the operator's domain
   deny and allow lists.
2. The host is resolved once; EVERY address in the answer must pass ``deputy.net.addresses`` (a name that resolves
   to one public and one private address is refused as a whole).
3. The connection goes to an address from that answer, never to the name: the request is sent to
   ``https://<address>:<port>/…`` with the original ``Host`` header and the original host name for SNI and
   certificate verification. A DNS answer that changes between the check and the connection (rebinding) cannot
   move it, because nothing resolves the name a second time. No proxy from the environment is used.
4. Redirects are not followed: a 3xx is a failure. A document URL is an identifier, and a redirect would be a
   second, unvalidated fetch target.
5. The response must be 200, JSON (``application/json`` or ``application/*+json``), without content coding (a
   compressed body could inflate past any limit), and at most ``max_bytes``, counted while streaming and aborted
   beyond it.
6. Everything above, resolution included, shares one deadline of ``timeout_seconds``.

Failures raise :class:`FetchError` with a short reason for the log; callers turn it into a generic client error.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Final

import anyio
import httpx

from deputy.net.addresses import IPAddress, address_refusal
from deputy.net.cache_control import MAX_SECONDS, cache_seconds
from deputy.net.urls import DEFAULT_MAX_URL_LENGTH, HttpsUrl, UrlRefusedError, host_in_domain, parse_https_url

__all__ = ["FetchError", "FetchPolicy", "Fetched", "Resolver", "SafeFetcher", "system_resolver"]

Resolver = Callable[[str, int], Awaitable[Sequence[IPAddress]]]
"""Resolves a host name to addresses. Tests inject their own to play DNS; production uses the system's."""

MAX_ADDRESSES_TRIED: Final = 4
USER_AGENT: Final = "Deputy (client metadata fetcher)"


async def system_resolver(host: str, port: int) -> list[IPAddress]:
    """The operating system's answer for ``host``, TCP only. ``host`` was validated as a DNS name already."""
    infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return [ipaddress.ip_address(info[4][0]) for info in infos]


class FetchError(Exception):
    """A fetch that failed or was refused. ``reason`` is a short code for the log, never shown to a client."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _UnreachableError(Exception):
    """This address did not accept a TLS connection; the next one from the same answer may."""


@dataclass(frozen=True)
class FetchPolicy:
    """The operator's limits (``[client_metadata]`` in the configuration)."""

    max_bytes: int = 5120
    timeout_seconds: float = 10.0
    allow_loopback: bool = False
    allow_domains: tuple[str, ...] = ()
    deny_domains: tuple[str, ...] = ()
    max_url_length: int = DEFAULT_MAX_URL_LENGTH
    max_cache_seconds: int = MAX_SECONDS


@dataclass(frozen=True)
class Fetched:
    """A JSON body as received (not yet parsed) and how long it may be reused, in seconds (0: not at all)."""

    url: str
    body: bytes
    cache_seconds: int


class SafeFetcher:
    """Fetches JSON documents from untrusted https URLs under a :class:`FetchPolicy`."""

    def __init__(
        self, policy: FetchPolicy, *, resolver: Resolver = system_resolver, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        self.policy = policy
        self._resolver = resolver
        self._verify: ssl.SSLContext | bool = ssl_context if ssl_context is not None else True

    async def fetch_json(self, url: str) -> Fetched:
        """Fetch ``url`` under the policy; see the module docstring for every step.

        Raises:
            FetchError: the URL, a domain list, an address, the connection, the response or the deadline refused it.
        """
        target = self._check_target(url)
        try:
            with anyio.fail_after(self.policy.timeout_seconds):
                addresses = await self._addresses(target)
                return await self._fetch_first(target, addresses)
        except TimeoutError:
            raise FetchError("timeout") from None

    def _check_target(self, url: str) -> HttpsUrl:
        try:
            target = parse_https_url(url, max_length=self.policy.max_url_length)
        except UrlRefusedError as exc:
            raise FetchError("url") from exc
        named = target.address is None
        if named and any(host_in_domain(target.host, domain) for domain in self.policy.deny_domains):
            raise FetchError("domain-denied")
        allowed = self.policy.allow_domains
        if allowed and not (named and any(host_in_domain(target.host, domain) for domain in allowed)):
            raise FetchError("domain-not-allowed")
        return target

    async def _addresses(self, target: HttpsUrl) -> list[IPAddress]:
        """The addresses to try, each already checked; every address in the answer must pass."""
        if target.address is not None:
            found: Sequence[IPAddress] = [target.address]
        else:
            try:
                found = await self._resolver(target.host, target.port)
            except (OSError, ValueError, UnicodeError):
                raise FetchError("dns") from None
        if not found:
            raise FetchError("dns")
        for address in found:
            reason = address_refusal(address, allow_loopback=self.policy.allow_loopback)
            if reason is not None:
                raise FetchError(f"address-{reason}")
        return list(dict.fromkeys(found))[:MAX_ADDRESSES_TRIED]

    async def _fetch_first(self, target: HttpsUrl, addresses: list[IPAddress]) -> Fetched:
        for address in addresses:
            try:
                return await self._get(target, address)
            except _UnreachableError:
                continue
        raise FetchError("connect")

    async def _get(self, target: HttpsUrl, address: IPAddress) -> Fetched:
        """One GET to exactly ``address``, speaking to it as ``target.host`` (Host header, SNI, certificate)."""
        literal = f"[{address}]" if address.version == 6 else str(address)
        headers = {
            "Host": target.authority,
            "Accept": "application/json",
            "Accept-Encoding": "identity",
            "User-Agent": USER_AGENT,
        }
        extensions = {"sni_hostname": target.host} if target.address is None else {}
        # A fresh client per fetch: no pooled connection made for one host name is ever reused for another.
        async with httpx.AsyncClient(
            verify=self._verify, trust_env=False, follow_redirects=False, timeout=self.policy.timeout_seconds
        ) as client:
            try:
                request = client.build_request(
                    "GET", f"https://{literal}:{target.port}{target.target}", headers=headers, extensions=extensions
                )
                response = await client.send(request, stream=True)
            except httpx.ConnectError:
                raise _UnreachableError from None
            except httpx.TimeoutException:
                raise FetchError("timeout") from None
            except httpx.HTTPError:
                raise FetchError("http") from None
            try:
                return await self._read(target, response)
            except httpx.TimeoutException:
                raise FetchError("timeout") from None
            except httpx.HTTPError:
                raise FetchError("http") from None
            finally:
                await response.aclose()

    async def _read(self, target: HttpsUrl, response: httpx.Response) -> Fetched:
        _check_response_head(response, self.policy.max_bytes)
        body = bytearray()
        async for chunk in response.aiter_raw():
            body += chunk
            if len(body) > self.policy.max_bytes:
                raise FetchError("too-large")
        ttl = cache_seconds(response.headers.get("cache-control"), cap=self.policy.max_cache_seconds)
        return Fetched(target.url, bytes(body), ttl)


def _check_response_head(response: httpx.Response, max_bytes: int) -> None:
    """Status, media type, content coding and declared length, before any of the body is read."""
    if 300 <= response.status_code < 400:
        raise FetchError("redirect")
    if response.status_code != 200:
        raise FetchError(f"status-{response.status_code}")
    media = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json" and not (media.startswith("application/") and media.endswith("+json")):
        raise FetchError("content-type")
    if response.headers.get("content-encoding", "identity").strip().lower() not in ("", "identity"):
        raise FetchError("content-encoding")
    length = response.headers.get("content-length")
    if length is not None and (not length.isascii() or not length.isdigit() or int(length) > max_bytes):
        raise FetchError("too-large")
