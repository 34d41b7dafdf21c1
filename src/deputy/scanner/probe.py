"""All of the scanner's HTTP: discovery, passive probes of the MCP endpoint, and the ``--active`` probes.

One :class:`Prober` sends every request: it refuses any authority the target did not name (the URL's own, those
in its metadata, ``--allow-host``), never follows redirects by itself (``follow_redirects=False``), bounds each
request by ``--timeout`` and the whole run by ``--max-seconds``, caps response bodies, and records what it did.
The only redirects it follows are same-authority ones while fetching metadata or walking the AS's own pages.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Final
from urllib.parse import urlencode, urljoin

import httpx

from deputy import __version__
from deputy.scanner.checks.common import Outcome, bearer_challenge, classify, query_params, same_target
from deputy.scanner.checks.resource import endpoint_missing
from deputy.scanner.model import (
    ActiveObservations,
    AuthorizeTrip,
    Discovery,
    Exchange,
    Probe,
    ResourceProbes,
    TripProbe,
)
from deputy.scanner.redact import redact_text, redact_url
from deputy.scanner.urls import (
    HostPolicy,
    as_metadata_urls,
    authority,
    canonical_url,
    origin,
    prm_urls,
    redirect_variants,
)

__all__ = [
    "FOREIGN_ORIGIN",
    "LARGE_BODY_BYTES",
    "MAX_BURST",
    "Prober",
    "active_plan",
    "discover",
    "probe_active",
    "probe_resource",
]

USER_AGENT: Final = f"deputy-scan/{__version__}"
FOREIGN_ORIGIN: Final = "https://deputy-scan-foreign-origin.invalid"
MAX_BODY_BYTES: Final = 256 * 1024
LARGE_BODY_BYTES: Final = 1024 * 1024
MAX_HOPS: Final = 3
MAX_BURST: Final = 200
_MCP_PROTOCOL_VERSION: Final = "2025-11-25"
_INITIALIZE: Final = json.dumps(
    {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": _MCP_PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "deputy-scan", "version": __version__},
        },
    }
).encode()


class Prober:
    """Sends requests within the host policy, the per-request timeout and the run's deadline."""

    def __init__(
        self,
        client: httpx.Client,
        *,
        policy: HostPolicy,
        timeout: float,
        deadline: float,
        progress: Callable[[str], None],
    ) -> None:
        self.client = client
        self.policy = policy
        self.timeout = timeout
        self.deadline = deadline
        self.progress = progress
        self.contacted: list[str] = []
        self.not_fetched: list[str] = []
        self.secrets: set[str] = set()
        self.requests = 0

    def allow(self, url: str) -> None:
        """Add an authority named by the target's own metadata."""
        self.policy = self.policy.with_url(url)

    def note_not_fetched(self, url: str) -> None:
        """Record a URL the scanner did not request; one entry per scheme, authority and path."""
        shown = redact_url(url)
        key = shown.split("?", 1)[0]
        if all(u.split("?", 1)[0] != key for u in self.not_fetched):
            self.not_fetched.append(shown)

    def send(
        self, method: str, url: str, *, headers: Mapping[str, str] | None = None, content: bytes | None = None
    ) -> Exchange:
        sent = {"User-Agent": USER_AGENT, **(headers or {})}
        pairs = tuple(sent.items())
        size = len(content or b"")
        if not self.policy.allows(url):
            self.note_not_fetched(url)
            return Exchange(method, url, pairs, size, skipped=f"{authority(url) or url} was not named by the target")
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            return Exchange(method, url, pairs, size, skipped="the time budget (--max-seconds) is spent")
        self.requests += 1
        self.progress(f"{method} {redact_url(url)[:100]}")
        timeout = min(self.timeout, remaining)
        end = time.monotonic() + timeout
        try:
            with self.client.stream(method, url, headers=sent, content=content, timeout=timeout) as response:
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) >= MAX_BODY_BYTES or time.monotonic() > end:
                        break
                headers_out = tuple((k, v) for k, v in response.headers.multi_items())
                status = response.status_code
        except httpx.HTTPError as exc:
            return Exchange(method, url, pairs, size, error=redact_text(f"{type(exc).__name__}: {exc}")[:300])
        finally:
            self.client.cookies.clear()  # every probe is a fresh browser: nothing carries over
        auth = authority(url)
        if auth not in self.contacted:
            self.contacted.append(auth)
        return Exchange(method, url, pairs, size, status, headers_out, bytes(body[:MAX_BODY_BYTES]))

    def get_json(self, url: str) -> tuple[tuple[Exchange, ...], dict[str, object] | None]:
        """GET a metadata document, following same-authority redirects only (at most ``MAX_HOPS``)."""
        hops: list[Exchange] = []
        for _ in range(MAX_HOPS + 1):
            x = self.send("GET", url, headers={"Accept": "application/json"})
            hops.append(x)
            location = x.location
            if location is None:
                doc = x.json_object() if x.status == 200 else None
                return tuple(hops), doc
            if authority(location) != authority(url) and not self.policy.allows(location):
                self.note_not_fetched(location)
                break
            url = location
        return tuple(hops), None


def _mcp_headers(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    return {"Content-Type": "application/json", "Accept": "application/json, text/event-stream", **(extra or {})}


def mcp_request(prober: Prober, url: str, extra: Mapping[str, str] | None = None) -> Exchange:
    """An MCP ``initialize`` POST: what any client sends first."""
    return prober.send("POST", url, headers=_mcp_headers(extra), content=_INITIALIZE)


def discover(prober: Prober, mcp_url: str) -> Discovery:
    """401 challenge → PRM (header, path-inserted, root) → ``authorization_servers[0]`` → AS metadata."""
    baseline = mcp_request(prober, mcp_url)
    if baseline.location is not None:
        prober.note_not_fetched(baseline.location)  # a redirecting MCP URL is reported, never followed
    attempts: list[Exchange] = []
    prm: dict[str, object] | None = None
    prm_url = prm_source = None
    challenge = bearer_challenge(baseline) if baseline.status == 401 else None
    candidates: list[tuple[str, str]] = []
    if challenge is not None and challenge.param("resource_metadata"):
        named = urljoin(mcp_url, challenge.param("resource_metadata") or "")
        prober.allow(named)
        candidates.append(("header", named))
    candidates += [c for c in prm_urls(mcp_url) if c[1] not in {u for _, u in candidates}]
    for source, url in candidates:
        hops, doc = prober.get_json(url)
        attempts += hops
        if doc is not None:
            prm, prm_url, prm_source = doc, url, source
            break
    servers = prm.get("authorization_servers") if prm is not None else None
    if isinstance(servers, list) and servers and isinstance(servers[0], str) and servers[0]:
        issuer, issuer_source = servers[0], "prm"
    else:
        issuer, issuer_source = origin(mcp_url), "origin"
    prober.allow(issuer)
    as_attempts: list[Exchange] = []
    metadata: dict[str, object] | None = None
    as_url = None
    for url in as_metadata_urls(issuer):
        hops, doc = prober.get_json(url)
        as_attempts += hops
        if doc is not None:
            metadata, as_url = doc, url
            break
    for key, value in (metadata or {}).items():
        if isinstance(value, str) and key.endswith("_endpoint"):
            prober.allow(value)
    return Discovery(
        mcp_url=mcp_url,
        baseline=baseline,
        prm_attempts=tuple(attempts),
        prm_url=prm_url,
        prm_source=prm_source,
        prm=prm,
        issuer=issuer,
        issuer_source=issuer_source,
        as_attempts=tuple(as_attempts),
        as_url=as_url,
        as_metadata=metadata,
    )


def _with_query(url: str, **params: str) -> str:
    return url + ("&" if "?" in url else "?") + urlencode(params)


def probe_resource(prober: Prober, d: Discovery, upstream_token: str | None) -> ResourceProbes:
    """Foreign Origin, token in the query string, an unknown token, and (if given) the raw upstream token."""
    if endpoint_missing(d):
        return ResourceProbes()
    fake = "deputy-scan-not-a-token-" + secrets.token_urlsafe(12)
    probes = ResourceProbes(
        foreign_origin=mcp_request(prober, d.mcp_url, {"Origin": FOREIGN_ORIGIN}),
        query_token=mcp_request(prober, _with_query(d.mcp_url, access_token=fake)),
        invalid_token=mcp_request(prober, d.mcp_url, {"Authorization": f"Bearer {fake}"}),
    )
    if upstream_token:
        prober.secrets.add(upstream_token)
        upstream = mcp_request(prober, d.mcp_url, {"Authorization": f"Bearer {upstream_token}"})
        probes = ResourceProbes(probes.foreign_origin, probes.query_token, probes.invalid_token, upstream)
    return probes


def _s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def _endpoint(metadata: Mapping[str, object], key: str) -> str | None:
    value = metadata.get(key)
    return value if isinstance(value, str) and value else None


def active_plan(d: Discovery, burst: int) -> str:
    """What ``--active`` will send, for the operator to confirm."""
    md = d.as_metadata or {}
    reg = _endpoint(md, "registration_endpoint") or "(no registration endpoint: most active checks will be skipped)"
    authz = _endpoint(md, "authorization_endpoint") or "(none advertised)"
    token = _endpoint(md, "token_endpoint") or "(none advertised)"
    return "\n".join(
        [
            "--active will send these requests (redirects are never followed off the authorization server):",
            f"  registration endpoint {reg}:",
            "    1 throwaway client (redirect URI: a scanner-owned listener on 127.0.0.1, plus an https URI on a",
            "      .invalid host), 4 registrations with dangerous redirect URIs, 1 oversized (1 MB) registration,",
            f"      and a burst of up to {burst} registrations (stops at the first 429)",
            f"  authorization endpoint {authz}: up to 16 GET requests, each followed at most {MAX_HOPS} redirects",
            "    and only while the redirects stay on the authorization server",
            f"  token endpoint {token}: 1 request, only if a code is handed out without a user",
            "Registered clients are not deleted afterwards. Run only against servers you are allowed to test.",
        ]
    )


class _Active:
    """State for one active run: the throwaway client and the parameters every authorization request shares."""

    def __init__(self, prober: Prober, d: Discovery, redirect_uri: str) -> None:
        self.prober = prober
        self.d = d
        self.redirect_uri = redirect_uri
        self.name = f"deputy-scan-{secrets.token_hex(4)}"
        self.remote: str | None = f"https://{secrets.token_hex(4)}.deputy-scan.invalid/callback"
        md = d.as_metadata or {}
        self.authz = _endpoint(md, "authorization_endpoint") or ""
        self.token = _endpoint(md, "token_endpoint")
        self.registration = _endpoint(md, "registration_endpoint") or ""
        resource = d.prm.get("resource") if d.prm else None
        self.resource = resource if isinstance(resource, str) and resource else canonical_url(d.mcp_url)
        challenge = bearer_challenge(d.baseline) if d.baseline.status == 401 else None
        self.scope = challenge.param("scope") if challenge else None
        self.client_id: str | None = None

    @property
    def redirect_uris(self) -> tuple[str, ...]:
        return (self.redirect_uri,) + ((self.remote,) if self.remote else ())

    def register(self, body: Mapping[str, object] | bytes) -> Exchange:
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        x = self.prober.send(
            "POST",
            self.registration,
            headers={"Content-Type": "application/json", "Accept": "application/json"},
            content=content,
        )
        doc = x.json_object() or {}
        for key in ("client_secret", "registration_access_token"):
            value = doc.get(key)
            if isinstance(value, str):
                self.prober.secrets.add(value)
        return x

    def client_body(self, redirect_uris: list[str], name: str | None = None) -> dict[str, object]:
        return {
            "client_name": name or self.name,
            "redirect_uris": redirect_uris,
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code"],
            "response_types": ["code"],
            "application_type": "native",
        }

    def register_throwaway(self) -> Exchange:
        x = self.register(self.client_body(list(self.redirect_uris)))
        if not (x.status and 200 <= x.status < 300):
            self.remote = None
            retry = self.register(self.client_body([self.redirect_uri]))
            if retry.answered:
                x = retry
        client_id = (x.json_object() or {}).get("client_id")
        if x.status and 200 <= x.status < 300 and isinstance(client_id, str) and client_id:
            self.client_id = client_id
        return x

    def params(self, redirect_uri: str, *, method: str | None = "S256") -> tuple[dict[str, str], str]:
        verifier = secrets.token_urlsafe(48)
        params = {
            "response_type": "code",
            "client_id": self.client_id or "",
            "redirect_uri": redirect_uri,
            "state": secrets.token_urlsafe(16),
            "resource": self.resource,
        }
        if method == "S256":
            params |= {"code_challenge": _s256(verifier), "code_challenge_method": "S256"}
        elif method == "plain":
            params |= {"code_challenge": verifier, "code_challenge_method": "plain"}
        if self.scope:
            params["scope"] = self.scope
        return params, verifier

    def trip(self, params: Mapping[str, str]) -> AuthorizeTrip:
        """GET /authorize, following redirects only while they stay on the AS; never into the upstream."""
        url = _with_query(self.authz, **params)
        hops: list[Exchange] = []
        left_to: str | None = None
        for _ in range(MAX_HOPS + 1):
            x = self.prober.send("GET", url, headers={"Accept": "text/html"})
            hops.append(x)
            location = x.location
            if location is None:
                break
            if any(same_target(location, u) for u in self.redirect_uris):
                if not same_target(location, self.redirect_uri):
                    self.prober.note_not_fetched(location)
                break
            if authority(location) != authority(self.authz):
                self.prober.note_not_fetched(location)
                left_to = location
                break
            url = location
        return AuthorizeTrip(tuple(hops), left_to)

    def wrong_verifier(self, trip: AuthorizeTrip) -> Exchange | None:
        if classify(trip.last, self.redirect_uris, self.authz) is not Outcome.CODE or not self.token:
            return None
        code = query_params(trip.last.location or "").get("code", "")
        self.prober.secrets.add(code)
        self.prober.allow(self.token)
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.redirect_uri,
            "client_id": self.client_id or "",
            "code_verifier": secrets.token_urlsafe(48),
        }
        return self.prober.send(
            "POST",
            self.token,
            headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
            content=urlencode(form).encode(),
        )

    def dangerous(self) -> tuple[Probe, ...]:
        uris = (
            ("javascript", "javascript:alert(document.domain)//"),
            ("data", "data:text/html,deputy-scan"),
            ("http-non-loopback", f"http://{secrets.token_hex(4)}.deputy-scan.invalid/callback"),
            ("fragment", f"{self.redirect_uri}#deputy-scan"),
        )
        return tuple(
            Probe(label, uri, self.register(self.client_body([uri], f"{self.name}-{label}"))) for label, uri in uris
        )

    def large_body(self) -> Exchange:
        body = self.client_body([self.redirect_uri]) | {"deputy_scan_padding": "x" * LARGE_BODY_BYTES}
        return self.register(json.dumps(body).encode())

    def burst(self, count: int) -> tuple[Exchange, ...]:
        sent: list[Exchange] = []
        for i in range(count):
            x = self.register(self.client_body([self.redirect_uri], f"{self.name}-burst-{i + 1}"))
            sent.append(x)
            if x.status == 429 or not x.answered:
                break
        return tuple(sent)


def probe_active(prober: Prober, d: Discovery, redirect_uri: str, *, burst: int) -> ActiveObservations:
    """Register a throwaway client and probe /authorize, /register (and /token if a code leaks)."""
    run = _Active(prober, d, redirect_uri)
    if d.as_metadata is None:
        return ActiveObservations(redirect_uri, skipped="no authorization server metadata")
    if not run.authz:
        return ActiveObservations(redirect_uri, skipped="no authorization_endpoint advertised")
    if not run.registration:
        return ActiveObservations(
            redirect_uri, skipped="no registration_endpoint: the scanner cannot register a throwaway client"
        )
    registration = run.register_throwaway()
    base = ActiveObservations(
        redirect_uri=redirect_uri,
        remote_redirect_uri=run.remote,
        authorization_endpoint=run.authz,
        client_name=run.name,
        registration=registration,
        client_id=run.client_id,
    )
    if run.client_id is None:
        return base
    params, _ = run.params(redirect_uri)
    authorize = run.trip(params)
    token_probe = run.wrong_verifier(authorize)
    variants: list[TripProbe] = []
    for uri in run.redirect_uris:
        for label, variant in redirect_variants(uri):
            tag = label if uri == redirect_uri else f"{label} (https URI)"
            variants.append(TripProbe(tag, variant, run.trip(run.params(variant)[0])))
    pkce_missing = run.trip(run.params(redirect_uri, method=None)[0])
    pkce_plain = run.trip(run.params(redirect_uri, method="plain")[0])
    dangerous = run.dangerous()
    large = run.large_body()
    count = max(0, min(burst, MAX_BURST))
    burst_sent = run.burst(count)
    return ActiveObservations(
        redirect_uri=redirect_uri,
        remote_redirect_uri=run.remote,
        authorization_endpoint=run.authz,
        client_name=run.name,
        registration=registration,
        client_id=run.client_id,
        authorize=authorize,
        variants=tuple(variants),
        pkce_missing=pkce_missing,
        pkce_plain=pkce_plain,
        dangerous=dangerous,
        large_body=large,
        burst=burst_sent,
        burst_size=count,
        token_wrong_verifier=token_probe,
    )
