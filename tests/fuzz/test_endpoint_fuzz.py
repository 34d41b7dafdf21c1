"""Hypothesis fuzzing of /register, /authorize, /consent, /callback, /token and /revoke, in-process.

Each test builds one Deputy + Acme environment and one event loop (a blocking portal) and reuses them for every
example; each example sends exactly one fuzzed request and checks, for arbitrary input:

1. no 5xx and no exception escaping the app (``httpx.ASGITransport`` re-raises them);
2. no redirect except to a redirect URI registered for the client named in the request (exact, or the RFC 8252
   loopback port variant) carrying ``iss`` = Deputy's issuer, or to Acme's authorize endpoint from a genuine
   consent approval; /callback redirects only for a genuine approved flow in the browser that approved it;
3. no row written for rejected input: every table but ``audit_events`` keeps its row count (a successful
   /authorize may add exactly one flow);
4. /register, /token, /revoke answer 4xx with a JSON RFC 6749/7591 ``error``; the browser endpoints answer 4xx
   with an HTML page.

Inputs start from a VALID request (registered clients, a live consent flow, a real upstream state, a live
authorization code or refresh token) and drop, duplicate, replace or corrupt parameters, headers and cookies; other
examples are fully random bodies, content types and query strings. With no mutation a base request must succeed,
which keeps the bases honest.

The bugs this fuzzer found are pinned by deterministic regression tests at the bottom. ``DEPUTY_FUZZ_SCALE``
multiplies every example count (e.g. ``DEPUTY_FUZZ_SCALE=10`` for a long hunt); ``--hypothesis-show-statistics``
shows how often each endpoint answered what.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast
from urllib.parse import parse_qsl, quote, quote_from_bytes, urlsplit

import anyio
import httpx
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from starlette.applications import Starlette

from deputy.http import cookies
from deputy.http.deps import Deps
from deputy.service.token import CODE, REFRESH
from support import (
    ACME,
    APP_REDIRECT,
    ATTACKER_REDIRECT,
    DEPUTY,
    RESOURCE,
    Env,
    Router,
    hidden,
    make_env,
    pkce,
    query_of,
)

T = TypeVar("T")

# Falsifying examples may hold 70 kB bodies; Hypothesis warns about printing them, which must not hide the failure.
pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr:hypothesis.errors.HypothesisWarning")

SCALE = float(os.environ.get("DEPUTY_FUZZ_SCALE", "1"))

# fmt: off
TABLES = ("clients", "flows", "grants", "authorization_codes", "refresh_tokens", "consents", "users",
          "browser_sessions", "upstream_credentials", "revoked_access_tokens")  # every table but audit_events
JSON_ERRORS = frozenset({"invalid_request", "invalid_client", "invalid_grant", "unauthorized_client",
                         "unsupported_grant_type", "invalid_scope", "invalid_target", "invalid_redirect_uri",
                         "invalid_client_metadata", "slow_down"})
# RFC 6749 §4.1.2.1 plus RFC 8707 invalid_target: what may travel to a client's redirect URI.
REDIRECT_ERRORS = frozenset({"invalid_request", "unauthorized_client", "access_denied", "unsupported_response_type",
                             "invalid_scope", "server_error", "temporarily_unavailable", "invalid_target"})
# fmt: on
ACME_AUTHORIZE = ACME + "/authorize"
MAX_QUERY = 60_000
SHOWN_HEADERS = ("content-type", "authorization", "cookie", "origin", "sec-fetch-site")
FORM = "application/x-www-form-urlencoded"
LOOPBACK_REDIRECT = "http://127.0.0.1:8765/cb"
CHALLENGE = base64.urlsafe_b64encode(hashlib.sha256(b"v" * 64).digest()).rstrip(b"=").decode()  # S256 of "v" * 64
QUERY_REDIRECT = "https://app.example/cb2?x=1"


def fuzz_settings(examples: int) -> settings:
    return settings(
        max_examples=max(1, int(examples * SCALE)),
        deadline=None,
        database=None,  # nothing written outside tests/fuzz (no .hypothesis directory)
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


# --------------------------------------------------------------------------------------------------------------
# Harness: one environment, one event loop, row counts around every request.
# --------------------------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    request: httpx.Request
    response: httpx.Response | None
    error: Exception | None
    before: dict[str, int]
    after: dict[str, int]

    @property
    def status(self) -> int:
        assert self.response is not None
        return self.response.status_code

    @property
    def location(self) -> str | None:
        if self.response is None or not self.response.is_redirect:
            return None
        location: str | None = self.response.headers.get("location")
        return location

    def delta(self) -> dict[str, int]:
        return {t: self.after[t] - self.before[t] for t in TABLES if self.after[t] != self.before[t]}

    def describe(self) -> str:
        req = self.request
        body = req.content[:600]
        shown = {k: v[:200] for k, v in req.headers.items() if k in SHOWN_HEADERS}
        lines = [f"{req.method} {str(req.url)[:800]}", f"headers: {shown}", f"body: {body!r}"]
        if self.response is not None:
            lines.append(f"-> {self.response.status_code} {dict(self.response.headers)}")
            lines.append(f"   {self.response.text[:400]!r}")
        if self.error is not None:
            lines.append(f"-> exception {self.error!r}")
        lines.append(f"row deltas: {self.delta()}")
        return "\n".join(lines)


@dataclass(repr=False)  # the default repr (the whole Env) would swamp Hypothesis reports
class Fuzz:
    env: Env
    portal: BlockingPortal
    router: Router
    acme_issuer: str
    clients: dict[str, list[str]] = field(default_factory=dict)  # client_id -> registered redirect URIs
    _roles: dict[str, str] = field(default_factory=dict)
    _creds: dict[str, Credentials] = field(default_factory=dict)

    def roles(self) -> dict[str, str]:
        """Role ("multi", "single", "confidential", "secret") -> client id (or secret), registered once."""
        if not self._roles:
            self._roles.update(register_fixed_clients(self))
        return self._roles

    def creds(self) -> dict[str, Credentials]:
        """Live codes and tokens for the single-URI public client and the confidential client."""
        if not self._creds:
            roles = self.roles()
            self._creds["public"] = Credentials(roles["single"], None)
            self._creds["confidential"] = Credentials(roles["confidential"], roles["secret"])
            for creds in self._creds.values():
                self.call(new_refresh_token, self, creds)
        return self._creds

    def call(self, fn: Callable[..., Coroutine[Any, Any, T]], *args: Any) -> T:
        result: T = self.portal.call(fn, *args)
        return result

    def counts(self) -> dict[str, int]:
        sql = " UNION ALL ".join(f"SELECT '{t}', COUNT(*) FROM {t}" for t in TABLES)  # noqa: S608 (constant names)
        with self.env.ctx.store.db.engine.connect() as conn:
            return {str(name): int(n) for name, n in conn.execute(text(sql))}

    def send(
        self,
        method: str,
        path: str,
        *,
        query: bytes = b"",
        body: bytes | None = None,
        headers: dict[str, bytes] | None = None,
    ) -> Outcome:
        url = httpx.URL(DEPUTY + path)
        if query:
            wire = wire_query(query)
            assume(len(wire) < MAX_QUERY)  # httpx's own URL limit; real servers refuse far shorter ones
            url = url.copy_with(query=wire)
        raw_headers = {name.encode(): value for name, value in (headers or {}).items()}
        request = httpx.Request(method, url, content=body, headers=raw_headers)
        before = self.counts()
        response: httpx.Response | None = None
        error: Exception | None = None
        try:
            response = self.call(self._send, request)
        except Exception as exc:  # the property under test: nothing may escape the app
            error = exc
        event(f"{method} {path} -> {type(error).__name__ if error else response and response.status_code}")
        return Outcome(request, response, error, before, self.counts())

    async def _send(self, request: httpx.Request) -> httpx.Response:
        response = await self.router.handle_async_request(request)
        await response.aread()
        return response

    def scalar(self, sql: str, **params: object) -> Any:
        with self.env.ctx.store.db.engine.connect() as conn:
            return conn.execute(text(sql), params).first()


async def _register(env: Env, body: dict[str, Any]) -> dict[str, Any]:
    async with env.api() as api:
        r = await api.post("/register", json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


@pytest.fixture
def fuzz(tmp_path: Path) -> Iterator[Fuzz]:
    env = make_env(tmp_path, registration={"rate_limit_per_hour": 100000})
    deps: Deps = cast(Starlette, env.app).state.deps
    with start_blocking_portal("asyncio") as portal:
        upstream = portal.call(deps.upstream)
        assert upstream.endpoints.authorize_url == ACME_AUTHORIZE
        f = Fuzz(env, portal, env.router(), upstream.endpoints.issuer or ACME)
        try:
            yield f
        finally:
            portal.call(deps.http.aclose)
            env.ctx.store.db.dispose()


# --------------------------------------------------------------------------------------------------------------
# Strategies
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Raw:
    """A parameter value sent exactly as written (already URL-encoded, possibly junk such as ``%zz``)."""

    encoded: str


Value = str | Raw
Pairs = list[tuple[str, Value]]

# fmt: off
INTERESTING = [
    "", " ", "null", "\x00", "%00", "../", "S256", "plain", "code", "token", "approve", "deny", "refresh_token",
    "authorization_code", "client_credentials", "offline_access", "crm.read crm.write", "crm.admin",
    APP_REDIRECT, APP_REDIRECT + "/", APP_REDIRECT.upper(), ATTACKER_REDIRECT, LOOPBACK_REDIRECT,
    "http://127.0.0.1:9/cb", "http://localhost:8765/cb", "http://127.0.0.1:08765/cb", "http://127.0.0.1:65536/cb",
    QUERY_REDIRECT, "https://app.example/cb2?x=1&x=2", RESOURCE, RESOURCE + "/", "HTTPS://DEPUTY.EXAMPLE:443/mcp",
    "https://deputy.example/mcp#frag", "https://user@deputy.example/mcp", "https://other.example/mcp", "https://[",
    "https://[::1", "http://a\u2100b/x", "javascript:alert(1)", "\u202e", "\ufeff", "\ud7ff", "\U0001f600" * 3,
    "a" * 4096, "a" * 4097, "é" * 3000,
]
URI_SCHEMES = ["https", "http", "HTTPS", "javascript", "data", "file", "com.example.app", "ftp", ""]
URI_HOSTS = ["app.example", "127.0.0.1", "localhost", "[::1]", "127.1", "0x7f.0.0.1", "2130706433",
             "[::ffff:127.0.0.1]", "attacker.example@app.example", "app.example.", "xn--zz", "APP.EXAMPLE",
             "app_example", "", "\u0430pp.example", "[", "a\u2100b", "attacker.example%2f@app.example"]
URI_PORTS = ["", ":443", ":8765", ":0", ":65536", ":08765", ":abc", ":", ":99999999999"]
URI_PATHS = ["", "/", "/callback", "/cb", "/a/../cb", "/%2e%2e/", "/%252e%252e/", "\\cb", "/cb%00", "/cb?x=1",
             "/cb#frag", "/cb\r\nX: y", "/cb%"]
CONTENT_TYPES = [FORM, FORM + "; charset=utf-8", "APPLICATION/X-WWW-FORM-URLENCODED", "application/json", "text/plain",
                 "multipart/form-data; boundary=xyz", "multipart/form-data", "", FORM + ";;", f" {FORM} ",
                 "application/json; charset=utf-16"]
# fmt: on
RAW_JUNK = ["%", "%zz", "%0", "%00", "%ff%fe", "%C0%AF", "%E2%80%AE", "+", "&", "=", "%26", "%3D", "%2B", "a%20b+c"]

unicode_text = st.text(st.characters(codec="utf-8"), max_size=40)
junk_text: st.SearchStrategy[str] = st.one_of(
    unicode_text,
    st.binary(max_size=40).map(lambda b: b.decode("latin-1")),
    st.text(st.characters(codec="utf-8", categories=["Cc", "Cf", "Zs", "Zl", "Zp", "Co"]), max_size=8),
    st.integers(4090, 4100).map(lambda n: "x" * n),
    st.sampled_from(["\u00e9" * 4097, "\u4e2d" * 2000, "\U0001f600" * 1100]),  # long, multi-byte
    st.sampled_from(INTERESTING),
)
raw_junk: st.SearchStrategy[Raw] = st.one_of(
    st.binary(max_size=30).map(lambda b: Raw(quote_from_bytes(b))),
    st.sampled_from(RAW_JUNK).map(Raw),
    st.lists(st.sampled_from([*RAW_JUNK, "a", "b", "1"]), max_size=6).map(lambda xs: Raw("".join(xs))),
)
junk_value: st.SearchStrategy[Value] = st.one_of(junk_text, junk_text, raw_junk)

uri_ish: st.SearchStrategy[str] = st.builds(
    lambda scheme, sep, host, port, path, tail: f"{scheme}{sep}{host}{port}{path}{tail}",
    st.sampled_from(URI_SCHEMES),
    st.sampled_from(["://", ":", ":/", ":///", "//", "://\\"]),
    st.sampled_from(URI_HOSTS),
    st.sampled_from(URI_PORTS),
    st.sampled_from(URI_PATHS),
    st.one_of(st.just(""), junk_text),
)

header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=60)


def header_bytes(value: str) -> bytes:
    return value.encode("latin-1")


basic_junk: st.SearchStrategy[str] = st.one_of(
    st.binary(max_size=40).map(lambda b: "Basic " + base64.b64encode(b).decode()),
    st.tuples(unicode_text, unicode_text).map(
        lambda t: "Basic " + base64.b64encode(f"{t[0]}:{t[1]}".encode()).decode()
    ),
    header_text.map(lambda s: "Basic " + s),
    st.sampled_from(
        ["Basic", "Basic ", "basic Og==", "Basic Og==", "Basic OmE=", "Basic YTo=", "Bearer x", "Digest a"]
    ),
    header_text,
)
origin_header = st.one_of(
    st.sampled_from([DEPUTY, "null", "https://attacker.example", ACME, DEPUTY + "/", "https://deputy.example:443"]),
    header_text,
)
sec_fetch_site = st.one_of(st.sampled_from(["same-origin", "none", "same-site", "cross-site", ""]), header_text)
content_types = st.one_of(st.sampled_from(CONTENT_TYPES), header_text)
random_query = st.one_of(
    st.binary(max_size=200),
    st.lists(st.tuples(junk_text, junk_value), max_size=6).map(lambda p: encode_pairs(p).encode()),
    st.lists(st.sampled_from([*RAW_JUNK, "a", "=", "&", "state", "code", "client_id"]), max_size=12).map(
        lambda xs: "".join(xs).encode()
    ),
)
random_body = st.one_of(
    st.binary(max_size=300),
    st.lists(st.tuples(junk_text, junk_value), max_size=8).map(lambda p: encode_pairs(p).encode()),
    st.lists(st.tuples(junk_text, junk_value), max_size=8).map(lambda p: encode_pairs(p).encode()),
    st.sampled_from([b"a=1&" * 60, b"x" * 70_000]),  # over the form parser's field limit; over the 64 KiB body limit
)


@dataclass(frozen=True)
class Mutation:
    op: str
    key: str
    value: Value
    pos: int


# Values just beside the valid ones, per parameter: where validation mistakes hide.
NEAR_MISS: dict[str, list[str]] = {
    "resource": [RESOURCE + "/", RESOURCE.upper(), "https://deputy.example:443/mcp", "https://deputy.example:0443/mcp",
                 "https://deputy.example:x/mcp", "https://deputy.example/mcp?x", "https://deputy.example/mcp#",
                 "https://u@deputy.example/mcp", "https://[", "https://]", "https://[::1/mcp", "http://[::1]x/",
                 "https://deputy.example\u2100/mcp", "https://deputy\uff0eexample/mcp", "//deputy.example/mcp", "mcp"],
    "redirect_uri": [APP_REDIRECT + "/", APP_REDIRECT + "?", APP_REDIRECT + "#", APP_REDIRECT + "%20",
                     " " + APP_REDIRECT, "https://app.example:443/callback", "https://APP.example/callback", "https://app.example/Callback",
                     "https://app.example/callback/../callback", "http://127.0.0.1/cb", "http://127.0.0.1:0/cb",
                     "http://127.0.0.1:65535/cb", "http://127.0.0.1:1x/cb", "http://127.0.0.1:8765/cb?",
                     "http://127.0.0.1:8765/cb/", "http://[::1]:8765/cb", "http://127.0.0.1:8765@attacker.example/cb",
                     "https://app.example/cb2?x=1&y=2", "https://app.example/cb2?x=2", "https://app.example/cb2"],
    "code_challenge": ["A" * 42, "A" * 44, "A" * 43 + "=", "+" * 43, "A" * 128],
    "code_verifier": ["A" * 42, "A" * 43, "A" * 129, "~" * 43],
    "code_challenge_method": ["s256", "S256 ", "plain", "SHA256"],
    "scope": ["crm.read  crm.write", " crm.read", "crm.read\tcrm.write", "crm.read crm.read", "openid", "CRM.READ"],
    "state": ["s" * 1024, "s" * 1025, "\x00", "a&b=c"],
    "iss": [ACME + "/", "https://ACME.example", DEPUTY, "https://attacker.example"],
    "action": ["Approve", "approve ", "yes", "deny\x00"],
    "grant_type": ["Authorization_code", "password", "client_credentials",
                   "urn:ietf:params:oauth:grant-type:jwt-bearer"],
    "token_type_hint": ["access_token", "refresh_token", "id_token"],
}  # fmt: skip


@st.composite
def mutation(draw: st.DrawFn, keys: list[str]) -> Mutation:
    key = draw(st.one_of(st.sampled_from(keys), st.sampled_from(keys), junk_text.map(lambda s: s[:30])))
    near = NEAR_MISS.get(key, INTERESTING)
    value = draw(st.one_of(junk_value, uri_ish, st.sampled_from(INTERESTING), st.sampled_from(near)))
    op = draw(st.sampled_from(["drop", "dup", "dup-same", "replace", "replace", "corrupt", "add", "blank", "rename"]))
    return Mutation(op, key, value, draw(st.integers(0, 200)))


def mutations(keys: list[str], *, max_size: int = 3) -> st.SearchStrategy[list[Mutation]]:
    """Up to ``max_size`` arbitrary mutations, or (half the time) one parameter replaced by one of its near misses."""
    focused = [Mutation("replace", k, v, 0) for k in keys for v in NEAR_MISS.get(k, [])]
    one_near_miss = st.sampled_from(focused).map(lambda m: [m]) if focused else st.nothing()
    return st.one_of(st.lists(mutation(keys), max_size=max_size), one_near_miss)


def apply_mutation(pairs: Pairs, m: Mutation) -> Pairs:
    present = [v for k, v in pairs if k == m.key]
    if m.op == "drop":
        return [(k, v) for k, v in pairs if k != m.key]
    if m.op == "dup":
        return [*pairs, (m.key, m.value)]
    if m.op == "dup-same":
        return [*pairs, (m.key, present[0] if present else m.value)]
    if m.op in ("replace", "blank"):
        new: Value = m.value if m.op == "replace" else ""
        return [(k, new if k == m.key else v) for k, v in pairs] if present else [*pairs, (m.key, new)]
    if m.op == "corrupt":
        return [(k, _corrupt(v, m) if k == m.key else v) for k, v in pairs] if present else [*pairs, (m.key, m.value)]
    if m.op == "rename":
        renamed = m.key.upper() if m.key.upper() != m.key else m.key + "_"
        return [(renamed if k == m.key else k, v) for k, v in pairs]
    return [*pairs, (m.key, m.value)]


def _corrupt(value: Value, m: Mutation) -> Value:
    if isinstance(value, Raw) or isinstance(m.value, Raw):
        return m.value
    i = m.pos % (len(value) + 1)
    return value[:i] + m.value + value[i + m.pos % 3 :]


def apply_all(pairs: Pairs, ms: list[Mutation]) -> Pairs:
    for m in ms:
        pairs = apply_mutation(pairs, m)
    return pairs


def encode_pairs(pairs: list[tuple[str, Value]]) -> str:
    def enc(v: Value) -> str:
        return v.encoded if isinstance(v, Raw) else quote(v.encode("utf-8", "surrogatepass"), safe="")

    return "&".join(f"{enc(k)}={enc(v)}" for k, v in pairs)


def wire_query(raw: bytes) -> bytes:
    """A query string as it can travel in a request-target: bytes outside visible ASCII, and ``#``, percent-encoded
    (HTTP servers refuse raw control bytes before any application sees them)."""
    return b"".join(bytes([b]) if 0x21 <= b <= 0x7E and b != 0x23 else b"%%%02X" % b for b in raw)


def decode(raw: bytes) -> list[tuple[str, str]]:
    """What the server sees: Starlette decodes both query strings and form bodies as latin-1 then unquotes."""
    return parse_qsl(raw.decode("latin-1"), keep_blank_values=True)


def single(pairs: list[tuple[str, str]], key: str) -> str | None:
    """The value of a parameter present exactly once (blank = absent, RFC 6749 §3.1); None otherwise."""
    values = [v for k, v in pairs if k == key]
    return values[0] if len(values) == 1 and values[0] != "" else None


def repeated(pairs: list[tuple[str, str]], key: str) -> bool:
    return sum(1 for k, _ in pairs if k == key) > 1


# --------------------------------------------------------------------------------------------------------------
# Oracles
# --------------------------------------------------------------------------------------------------------------

_LOOPBACK = re.compile(r"http://(127\.0\.0\.1|localhost|\[::1\])(?::([0-9]*))?(/[^?#]*)?(\?[^#]*)?")


def registered_match(registered: list[str], uri: str) -> bool:
    """Exactly registered, or an http loopback URI registered with another port (RFC 8252 §7.3)."""
    if uri in registered:
        return True
    ours = _LOOPBACK.fullmatch(uri)
    if ours is None:
        return False
    port = ours[2]
    if port is not None and (not port or port.startswith("0") or int(port) > 65535):
        return False
    for candidate in registered:
        theirs = _LOOPBACK.fullmatch(candidate)
        if theirs is not None and (theirs[1], theirs[3], theirs[4]) == (ours[1], ours[3], ours[4]):
            return True
    return False


def client_redirect_params(out: Outcome, registered: list[str], requested: str | None) -> dict[str, str]:
    """The response parameters of a redirect that must go to ``requested`` (or, if None, a registered URI)."""
    location = out.location
    assert location is not None, out.describe()
    bases = [requested] if requested is not None else registered
    for base in bases:
        sep = "&" if "?" in base else "?"
        if registered_match(registered, base) and location.startswith(base + sep):
            params = parse_qsl(location[len(base) + 1 :], keep_blank_values=True)
            assert single(params, "iss") == DEPUTY, f"redirect without Deputy's iss\n{out.describe()}"
            return dict(params)
    raise AssertionError(f"redirect to an unregistered URI (registered {registered})\n{out.describe()}")


def check_survived(out: Outcome) -> None:
    """Property 1: the app answered, and not with a server error."""
    if out.error is not None:
        raise AssertionError(f"exception escaped the app: {out.error!r}\n{out.describe()}") from out.error
    assert out.status < 500, f"server error\n{out.describe()}"


def check_json_error(out: Outcome) -> None:
    """Properties 2 and 4 for /register, /token, /revoke: never a redirect; 4xx is a JSON OAuth error."""
    assert not out.response or not out.response.is_redirect, f"API endpoint redirected\n{out.describe()}"
    if 400 <= out.status < 500:
        assert out.response is not None
        assert out.response.headers.get("content-type", "").startswith("application/json"), out.describe()
        body = out.response.json()
        assert isinstance(body, dict) and body.get("error") in JSON_ERRORS, out.describe()


def check_html_error(out: Outcome) -> None:
    """Property 4 for the browser endpoints: a 4xx that does not redirect is Deputy's own HTML page."""
    if 400 <= out.status < 500:
        assert out.response is not None
        assert out.response.headers.get("content-type", "").startswith("text/html"), out.describe()


def check_unchanged(out: Outcome, allowed: dict[str, int] | None = None) -> None:
    """Property 3: no row anywhere but audit_events (or exactly the ``allowed`` deltas)."""
    assert out.delta() == (allowed or {}), f"unexpected rows written\n{out.describe()}"


def origin_ok(headers: dict[str, bytes]) -> bool:
    """Deputy's documented same-origin rule for the consent POST."""
    origin = headers["origin"].decode("latin-1") if "origin" in headers else None
    site = headers["sec-fetch-site"].decode("latin-1") if "sec-fetch-site" in headers else None
    foreign = origin is not None and origin != DEPUTY and not (origin == "null" and site == "same-origin")
    return not foreign and (site is None or site in ("same-origin", "none"))


# --------------------------------------------------------------------------------------------------------------
# Browser helpers used to build valid bases
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConsentForm:
    flow_id: str
    csrf_token: str
    csrf_cookie: str


async def open_consent(env: Env, browser: httpx.AsyncClient, client_id: str, redirect_uri: str) -> ConsentForm:
    _, challenge = pkce()
    r = await browser.get(env.authorize_url(client_id, challenge, redirect_uri=redirect_uri))
    assert r.status_code == 200, r.text
    cookie = browser.cookies.get(cookies.CSRF)
    assert cookie is not None
    return ConsentForm(hidden(r.text, "flow_id"), hidden(r.text, "csrf_token"), cookie)


async def post_consent(browser: httpx.AsyncClient, form: ConsentForm, action: str) -> httpx.Response:
    data = {"flow_id": form.flow_id, "csrf_token": form.csrf_token, "action": action}
    return await browser.post("/consent", data=data, headers={"origin": DEPUTY, "sec-fetch-site": "same-origin"})


def register_fixed_clients(f: Fuzz) -> dict[str, str]:
    """A multi-URI public client, a single-URI public client and a confidential client; returns role -> id."""
    bodies = {
        "multi": {
            "client_name": "Fuzz multi",
            "redirect_uris": [APP_REDIRECT, LOOPBACK_REDIRECT, QUERY_REDIRECT],
            "token_endpoint_auth_method": "none",
        },
        "single": {"client_name": "Fuzz single", "redirect_uris": [APP_REDIRECT], "scope": "crm.read"},
        "confidential": {
            "client_name": "Fuzz conf",
            "redirect_uris": [APP_REDIRECT],
            "token_endpoint_auth_method": "client_secret_basic",
        },
    }
    roles: dict[str, str] = {}
    for role, body in bodies.items():
        info = f.call(_register, f.env, body)
        f.clients[info["client_id"]] = list(info["redirect_uris"])
        roles[role] = info["client_id"]
        if "client_secret" in info:
            roles["secret"] = info["client_secret"]
    return roles


# --------------------------------------------------------------------------------------------------------------
# /register
# --------------------------------------------------------------------------------------------------------------

json_values: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | junk_text | uri_ish,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(junk_text, children, max_size=4),
    max_leaves=12,
)
VALID_REGISTRATION: dict[str, Any] = {
    "client_name": "Fuzz client",
    "redirect_uris": [APP_REDIRECT, LOOPBACK_REDIRECT],
    "token_endpoint_auth_method": "none",
    "grant_types": ["authorization_code", "refresh_token"],
    "response_types": ["code"],
    "scope": "crm.read",
    "client_uri": "https://app.example",
    "contacts": ["ops@app.example"],
}
REGISTRATION_FIELDS = [*VALID_REGISTRATION, "application_type", "logo_uri", "software_id", "software_version",
                       "client_secret", "jwks", "jwks_uri", "software_statement", "client_id"]  # fmt: skip

field_value = st.one_of(
    json_values,
    uri_ish,
    st.lists(st.one_of(uri_ish, json_values), max_size=4),
    st.sampled_from(["none", "client_secret_basic", "client_secret_post", "private_key_jwt", "web", "native"]),
    st.sampled_from([["code", "token"], ["authorization_code"], ["implicit"], [], "crm.read crm.write", "crm.admin"]),
)
registration_edit = st.tuples(st.sampled_from(["drop", "set"]), st.sampled_from(REGISTRATION_FIELDS), field_value)


@st.composite
def registration_bodies(draw: st.DrawFn) -> tuple[bytes, Any]:
    """(raw body, the decoded JSON value or None when the body is not JSON)."""
    kind = draw(st.sampled_from(["mutated", "mutated", "mutated", "valid", "json", "bytes"]))
    if kind == "bytes":
        return draw(st.one_of(st.binary(max_size=300), st.just(b"x" * 20_000))), None
    if kind == "json":
        value: Any = draw(json_values)
    else:
        value = dict(VALID_REGISTRATION)
        for op, name, new in draw(st.lists(registration_edit, max_size=4 if kind == "mutated" else 0)):
            if op == "drop":
                value.pop(name, None)
            else:
                value[name] = new
    raw = json.dumps(value, ensure_ascii=draw(st.booleans())).encode("utf-8", "surrogatepass")
    return raw, value


def check_registered(out: Outcome, sent: Any) -> None:
    assert isinstance(sent, dict) and isinstance(sent.get("redirect_uris"), list), out.describe()
    assert out.response is not None
    info = out.response.json()
    uris = info["redirect_uris"]
    assert isinstance(uris, list) and uris and all(u in sent["redirect_uris"] for u in uris), out.describe()
    for uri in uris:
        parts = urlsplit(uri)
        loopback = parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1")
        assert (parts.scheme == "https" and parts.hostname) or loopback, f"unsafe redirect URI {uri!r}"
        assert "#" not in uri and "@" not in parts.netloc and uri.isascii() and uri.isprintable(), uri
    assert ("client_secret" in info) == (info["token_endpoint_auth_method"] != "none"), out.describe()
    check_unchanged(out, {"clients": 1})


@fuzz_settings(300)
@given(body=registration_bodies(), ctype=st.one_of(st.just("application/json"), content_types), origin=origin_header)
def test_register_fuzz(fuzz: Fuzz, body: tuple[bytes, Any], ctype: str, origin: str) -> None:
    raw, value = body
    headers = {"content-type": header_bytes(ctype), "origin": header_bytes(origin)}
    out = fuzz.send("POST", "/register", body=raw, headers=headers)
    check_survived(out)
    check_json_error(out)
    if out.status == 201:
        check_registered(out, value)
    else:
        check_unchanged(out)
    if value == VALID_REGISTRATION and ctype == "application/json":
        assert out.status == 201, out.describe()


# --------------------------------------------------------------------------------------------------------------
# /authorize
# --------------------------------------------------------------------------------------------------------------

AUTHORIZE_KEYS = ["response_type", "client_id", "redirect_uri", "code_challenge", "code_challenge_method", "state",
                  "resource", "scope", "prompt", "request", "request_uri", "nonce"]  # fmt: skip


@dataclass(frozen=True)
class AuthorizeCase:
    role: str
    redirect_uri: str | None
    scope: str | None
    edits: list[Mutation]
    raw_query: bytes | None
    cookie: str | None


authorize_cases = st.builds(
    AuthorizeCase,
    role=st.sampled_from(["multi", "single", "confidential", "unknown"]),
    redirect_uri=st.sampled_from([APP_REDIRECT, LOOPBACK_REDIRECT, "http://127.0.0.1:1/cb", QUERY_REDIRECT, None]),
    scope=st.sampled_from([None, "crm.read", "crm.read crm.write", "offline_access"]),
    edits=mutations(AUTHORIZE_KEYS),
    raw_query=st.one_of(st.none(), st.none(), st.none(), random_query),
    cookie=st.one_of(st.none(), st.none(), header_text, header_text.map(lambda s: f"{cookies.SESSION}={s}")),
)


def authorize_base(case: AuthorizeCase, roles: dict[str, str]) -> Pairs:
    client_id = roles.get(case.role, "cl_unknown_client")
    pairs: Pairs = [("response_type", "code"), ("client_id", client_id), ("code_challenge", CHALLENGE),
                    ("code_challenge_method", "S256"), ("state", "st-1"), ("resource", RESOURCE)]  # fmt: skip
    if case.redirect_uri is not None:
        pairs.append(("redirect_uri", case.redirect_uri))
    if case.scope is not None:
        pairs.append(("scope", case.scope))
    return pairs


def expected_authorize_status(case: AuthorizeCase) -> int:
    """What an unmutated base request must get: the consent page, a local error page, or an error redirect."""
    if case.role == "multi":
        return 400 if case.redirect_uri is None else 200
    if case.role == "unknown" or case.redirect_uri not in (None, APP_REDIRECT):
        return 400
    return 302 if case.role == "single" and case.scope == "crm.read crm.write" else 200  # registered for crm.read


def check_authorize(f: Fuzz, out: Outcome, params: list[tuple[str, str]]) -> None:
    client_id = single(params, "client_id")
    registered = f.clients.get(client_id or "", [])
    if out.location is not None:
        requested = single(params, "redirect_uri")
        if repeated(params, "redirect_uri"):
            registered = []  # a repeated redirect_uri can never be trusted
        response = client_redirect_params(out, registered, requested)
        assert response.get("error") in REDIRECT_ERRORS and "code" not in response, out.describe()
        assert response.get("state") == single(params, "state"), out.describe()
        check_unchanged(out)
    elif out.status == 200:
        requested = single(params, "redirect_uri")
        fits = registered_match(registered, requested) if requested else len(registered) == 1
        assert fits and single(params, "response_type") == "code", out.describe()
        assert single(params, "code_challenge_method") == "S256", out.describe()
        check_unchanged(out, {"flows": 1})
    else:
        check_html_error(out)
        check_unchanged(out)


@fuzz_settings(300)
@given(case=authorize_cases)
def test_authorize_fuzz(fuzz: Fuzz, case: AuthorizeCase) -> None:
    roles = fuzz.roles()
    if case.raw_query is not None:
        query = case.raw_query
    else:
        query = encode_pairs(apply_all(authorize_base(case, roles), case.edits)).encode()
    headers = {"cookie": header_bytes(case.cookie)} if case.cookie is not None else {}
    out = fuzz.send("GET", "/authorize", query=query, headers=headers)
    params = decode(wire_query(query))
    check_survived(out)
    check_authorize(fuzz, out, params)
    if case.raw_query is None and not case.edits:
        assert out.status == expected_authorize_status(case), out.describe()


# --------------------------------------------------------------------------------------------------------------
# /consent
# --------------------------------------------------------------------------------------------------------------

CONSENT_KEYS = ["flow_id", "csrf_token", "action"]


@dataclass(frozen=True)
class ConsentCase:
    flow_state: str
    action: str
    edits: list[Mutation]
    cookie: str
    junk_cookie: str
    origin: str | None
    site: str | None
    ctype: str
    raw_body: bytes | None


consent_cases = st.builds(
    ConsentCase,
    flow_state=st.sampled_from(["fresh", "fresh", "fresh", "approved", "denied", "foreign"]),
    action=st.sampled_from(["approve", "approve", "deny"]),
    edits=mutations(CONSENT_KEYS),
    cookie=st.sampled_from(["keep", "keep", "keep", "drop", "junk", "other", "empty"]),
    junk_cookie=header_text,
    origin=st.one_of(st.just(DEPUTY), st.just(DEPUTY), st.none(), origin_header),
    site=st.one_of(st.just("same-origin"), st.just("same-origin"), st.none(), sec_fetch_site),
    ctype=st.one_of(st.just(FORM), st.just(FORM), content_types),
    raw_body=st.one_of(st.none(), st.none(), st.none(), st.none(), random_body),
)


@dataclass(frozen=True)
class ConsentSetup:
    form: ConsentForm
    other: ConsentForm  # a flow opened in another browser


async def consent_setup(f: Fuzz, client_id: str, flow_state: str) -> ConsentSetup:
    async with f.env.browser() as browser, f.env.browser() as other_browser:
        form = await open_consent(f.env, browser, client_id, APP_REDIRECT)
        other = await open_consent(f.env, other_browser, client_id, APP_REDIRECT)
        if flow_state in ("approved", "denied"):
            r = await post_consent(browser, form, "approve" if flow_state == "approved" else "deny")
            assert r.status_code == 303, r.text
    if flow_state == "foreign":  # this browser submits the other browser's flow with its own cookie
        form, other = ConsentForm(other.flow_id, other.csrf_token, form.csrf_cookie), form
    return ConsentSetup(form, other)


def consent_cookie(case: ConsentCase, setup: ConsentSetup) -> bytes | None:
    values = {"keep": setup.form.csrf_cookie, "junk": case.junk_cookie, "other": setup.other.csrf_cookie, "empty": ""}
    if case.cookie == "drop":
        return None
    return header_bytes(f"{cookies.CSRF}={values[case.cookie]}")


def consent_request(case: ConsentCase, setup: ConsentSetup) -> tuple[bytes, dict[str, bytes]]:
    base: Pairs = [("flow_id", setup.form.flow_id), ("csrf_token", setup.form.csrf_token), ("action", case.action)]
    body = case.raw_body if case.raw_body is not None else encode_pairs(apply_all(base, case.edits)).encode()
    headers = {"content-type": header_bytes(case.ctype)}
    cookie = consent_cookie(case, setup)
    if cookie is not None:
        headers["cookie"] = cookie
    if case.origin is not None:
        headers["origin"] = header_bytes(case.origin)
    if case.site is not None:
        headers["sec-fetch-site"] = header_bytes(case.site)
    return body, headers


def genuine_consent(case: ConsentCase, setup: ConsentSetup, body: bytes, headers: dict[str, bytes]) -> str | None:
    """The action of a genuine decision on a fresh flow from its own browser, or None."""
    pairs = decode(body)
    ctype = case.ctype.split(";")[0].strip().lower()
    ok = (
        case.flow_state == "fresh"
        and case.cookie == "keep"
        and ctype == FORM
        and origin_ok(headers)
        and single(pairs, "flow_id") == setup.form.flow_id
        and single(pairs, "csrf_token") == setup.form.csrf_token
    )
    return single(pairs, "action") if ok else None


@fuzz_settings(250)
@given(case=consent_cases)
def test_consent_fuzz(fuzz: Fuzz, case: ConsentCase) -> None:
    roles = fuzz.roles()
    setup = fuzz.call(consent_setup, fuzz, roles["single"], case.flow_state)
    body, headers = consent_request(case, setup)
    out = fuzz.send("POST", "/consent", body=body, headers=headers)
    check_survived(out)
    check_unchanged(out)  # a decision updates the flow; it never adds a row
    genuine = genuine_consent(case, setup, body, headers)
    location = out.location
    if location is None:
        check_html_error(out)
    elif location.startswith(ACME_AUTHORIZE + "?"):
        assert genuine == "approve", f"upstream redirect without a valid approval\n{out.describe()}"
    else:
        params = client_redirect_params(out, [APP_REDIRECT], APP_REDIRECT)
        assert genuine == "deny" and params.get("error") == "access_denied", out.describe()
    untouched = case.raw_body is None and not case.edits and case.cookie == "keep" and case.ctype == FORM
    if untouched and case.flow_state == "fresh" and case.origin == DEPUTY and case.site == "same-origin":
        assert out.status == 303, out.describe()


# --------------------------------------------------------------------------------------------------------------
# /callback
# --------------------------------------------------------------------------------------------------------------

# Besides one grant and one code, a completed callback may add the user, their session, consent and upstream tokens.
CALLBACK_MAY_ADD = {"users": 1, "browser_sessions": 1, "consents": 1, "upstream_credentials": 2}
CALLBACK_KEYS = ["state", "code", "iss", "error", "error_description", "session_state"]


@dataclass(frozen=True)
class CallbackCase:
    real_code: bool
    flow_state: str
    edits: list[Mutation]
    cookie: str
    junk_cookie: str
    raw_query: bytes | None


callback_cases = st.builds(
    CallbackCase,
    real_code=st.sampled_from([False, False, True]),
    flow_state=st.sampled_from(["fresh", "fresh", "fresh", "consumed"]),
    edits=mutations(CALLBACK_KEYS),
    cookie=st.sampled_from(["keep", "keep", "keep", "drop", "junk", "other"]),
    junk_cookie=header_text,
    raw_query=st.one_of(st.none(), st.none(), st.none(), st.none(), random_query),
)


@dataclass(frozen=True)
class CallbackSetup:
    params: Pairs
    binding: str
    other_binding: str


async def _approve(f: Fuzz, browser: httpx.AsyncClient, client_id: str) -> tuple[str, str]:
    form = await open_consent(f.env, browser, client_id, APP_REDIRECT)
    r = await post_consent(browser, form, "approve")
    assert r.status_code == 303 and r.headers["location"].startswith(ACME_AUTHORIZE), r.text
    binding = browser.cookies.get(cookies.BINDING)
    assert binding is not None
    return r.headers["location"], binding


async def callback_setup(f: Fuzz, client_id: str, case: CallbackCase) -> CallbackSetup:
    async with f.env.browser() as browser, f.env.browser() as other_browser:
        upstream_url, binding = await _approve(f, browser, client_id)
        _, other_binding = await _approve(f, other_browser, client_id)
        if case.real_code:
            trip = await f.env.drive(browser, upstream_url, stop_hosts=("deputy.example",))
            assert trip.landed is not None, trip.steps
            params: Pairs = list(query_of(trip.landed).items())
        else:
            state = query_of(upstream_url)["state"]
            params = [("code", "not-an-acme-code"), ("state", state), ("iss", f.acme_issuer)]
        if case.flow_state == "consumed":  # the state was already used once
            url = httpx.URL(DEPUTY + "/callback").copy_with(query=encode_pairs(params).encode())
            r = await browser.get(url)
            assert r.status_code == 302, r.text
    return CallbackSetup(params, binding, other_binding)


def check_callback(f: Fuzz, out: Outcome, case: CallbackCase, setup: CallbackSetup, query: bytes) -> None:
    params = decode(wire_query(query))
    if out.location is None:
        check_html_error(out)
        check_unchanged(out)
        return
    genuine_state = dict(setup.params)["state"]
    iss = single(params, "iss")
    genuine = (
        case.flow_state == "fresh"
        and case.cookie == "keep"
        and single(params, "state") == genuine_state
        and not repeated(params, "iss")
        and iss in (None, f.acme_issuer)
    )
    assert genuine, f"callback redirected without a genuine approved flow\n{out.describe()}"
    response = client_redirect_params(out, [APP_REDIRECT], APP_REDIRECT)
    assert response.get("state") == "s1", out.describe()  # the client's own state from env.authorize_url
    if "code" in response:
        assert case.real_code and "error" not in response, out.describe()
        delta = out.delta()
        assert delta.pop("grants", 0) == 1 and delta.pop("authorization_codes", 0) == 1, out.describe()
        assert all(0 < n <= CALLBACK_MAY_ADD.get(t, 0) for t, n in delta.items()), out.describe()
    else:
        assert response.get("error") in REDIRECT_ERRORS, out.describe()
        check_unchanged(out)


@fuzz_settings(200)
@given(case=callback_cases)
def test_callback_fuzz(fuzz: Fuzz, case: CallbackCase) -> None:
    roles = fuzz.roles()
    setup = fuzz.call(callback_setup, fuzz, roles["single"], case)
    if case.raw_query is not None:
        query = case.raw_query
    else:
        query = encode_pairs(apply_all(list(setup.params), case.edits)).encode()
    values = {"keep": setup.binding, "junk": case.junk_cookie, "other": setup.other_binding}
    headers = {} if case.cookie == "drop" else {"cookie": header_bytes(f"{cookies.BINDING}={values[case.cookie]}")}
    out = fuzz.send("GET", "/callback", query=query, headers=headers)
    check_survived(out)
    check_callback(fuzz, out, case, setup, query)
    if case.raw_query is None and not case.edits and case.cookie == "keep" and case.flow_state == "fresh":
        assert out.location is not None and (not case.real_code or "code=" in out.location), out.describe()


# --------------------------------------------------------------------------------------------------------------
# /token
# --------------------------------------------------------------------------------------------------------------

TOKEN_KEYS = ["grant_type", "code", "redirect_uri", "client_id", "client_secret", "code_verifier", "resource",
              "refresh_token", "scope"]  # fmt: skip


@dataclass
class Credentials:
    """A client's live authorization code (with its verifier) and live refresh and access tokens."""

    client_id: str
    secret: str | None
    code: str = ""
    verifier: str = ""
    refresh_token: str = ""
    access_tokens: list[str] = field(default_factory=list)

    def basic(self, secret: str | None = None) -> str:
        raw = f"{quote(self.client_id, safe='')}:{quote(secret or self.secret or '', safe='')}"
        return "Basic " + base64.b64encode(raw.encode()).decode()

    def auth(self, form: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
        if self.secret is None:
            return {**form, "client_id": self.client_id}, {}
        return form, {"authorization": self.basic()}


async def new_code(f: Fuzz, creds: Credentials) -> None:
    creds.verifier, challenge = pkce()
    async with f.env.browser() as browser:
        trip = await f.env.drive(browser, f.env.authorize_url(creds.client_id, challenge))
    creds.code = trip.params["code"]


async def new_refresh_token(f: Fuzz, creds: Credentials) -> None:
    await new_code(f, creds)
    form, headers = creds.auth({"grant_type": "authorization_code", "code": creds.code, "redirect_uri": APP_REDIRECT,
                                "code_verifier": creds.verifier, "resource": RESOURCE})  # fmt: skip
    async with f.env.api() as api:
        r = await api.post("/token", data=form, headers=headers)
    assert r.status_code == 200, r.text
    creds.refresh_token = r.json()["refresh_token"]
    creds.access_tokens.append(r.json()["access_token"])
    await new_code(f, creds)


def code_live(f: Fuzz, code: str) -> bool:
    row = f.scalar(
        "SELECT c.used_at, g.revoked_at FROM authorization_codes c JOIN grants g ON g.grant_id = c.grant_id "
        "WHERE c.code_hash = :h",
        h=f.env.ctx.keys.keyed_hash(CODE, code),
    )
    return row is not None and row[0] is None and row[1] is None


def refresh_live(f: Fuzz, token: str) -> bool:
    row = f.scalar(
        "SELECT r.rotated_at, g.revoked_at FROM refresh_tokens r JOIN grants g ON g.grant_id = r.grant_id "
        "WHERE r.token_hash = :h",
        h=f.env.ctx.keys.keyed_hash(REFRESH, token),
    )
    return row is not None and row[0] is None and row[1] is None


async def replenish(f: Fuzz, creds: Credentials) -> None:
    if not refresh_live(f, creds.refresh_token):
        await new_refresh_token(f, creds)
    if not code_live(f, creds.code):
        await new_code(f, creds)


@dataclass(frozen=True)
class TokenCase:
    who: str
    grant: str
    edits: list[Mutation]
    auth: str
    junk_auth: str
    ctype: str
    raw_body: bytes | None


token_cases = st.builds(
    TokenCase,
    who=st.sampled_from(["public", "confidential"]),
    grant=st.sampled_from(["authorization_code", "refresh_token"]),
    edits=mutations(TOKEN_KEYS),
    auth=st.sampled_from(["keep", "keep", "keep", "keep", "drop", "junk", "wrong-secret", "other-client", "post"]),
    junk_auth=basic_junk,
    ctype=st.one_of(st.just(FORM), st.just(FORM), st.just(FORM), content_types),
    raw_body=st.one_of(st.none(), st.none(), st.none(), st.none(), random_body),
)


def token_base(case: TokenCase, creds: Credentials) -> Pairs:
    if case.grant == "authorization_code":
        return [("grant_type", "authorization_code"), ("code", creds.code), ("redirect_uri", APP_REDIRECT),
                ("code_verifier", creds.verifier), ("resource", RESOURCE)]  # fmt: skip
    return [("grant_type", "refresh_token"), ("refresh_token", creds.refresh_token), ("scope", "crm.read")]


def client_auth(auth: str, junk: str, creds: Credentials, other: Credentials) -> tuple[Pairs, dict[str, bytes]]:
    """Extra form pairs and headers for one client authentication variant."""
    if auth == "drop":
        return [], {}
    if auth == "junk":
        return [], {"authorization": header_bytes(junk)}
    if auth == "other-client":
        return [("client_id", other.client_id)], {}
    if auth == "wrong-secret":
        return [], {"authorization": header_bytes(creds.basic("not-the-secret"))}
    if creds.secret is None:
        return [("client_id", creds.client_id)], {}
    if auth == "post":
        return [("client_id", creds.client_id), ("client_secret", creds.secret)], {}
    return [], {"authorization": header_bytes(creds.basic())}


def genuine_auth(auth: str, creds: Credentials) -> bool:
    """Whether ``client_auth`` sent the client's real, registered authentication (a public client has no secret
    to post, so "post" is the same request as "keep")."""
    return auth == "keep" or (auth == "post" and creds.secret is None)


def check_token_success(out: Outcome, case: TokenCase, creds: Credentials, params: list[tuple[str, str]]) -> None:
    assert out.response is not None
    body = out.response.json()
    assert body["token_type"] == "Bearer" and body["access_token"], out.describe()
    by_code = single(params, "grant_type") == "authorization_code"
    genuine, presented = (
        (creds.code, single(params, "code")) if by_code else (creds.refresh_token, single(params, "refresh_token"))
    )
    assert presented == genuine and genuine_auth(case.auth, creds), (
        f"tokens for a non-genuine request\n{out.describe()}"
    )
    check_unchanged(out, {"refresh_tokens": 1})
    creds.refresh_token = body.get("refresh_token", creds.refresh_token)
    creds.access_tokens.append(body["access_token"])


@fuzz_settings(300)
@given(case=token_cases)
def test_token_fuzz(fuzz: Fuzz, case: TokenCase) -> None:
    all_creds = fuzz.creds()
    creds = all_creds[case.who]
    other = all_creds["confidential" if case.who == "public" else "public"]
    fuzz.call(replenish, fuzz, creds)  # a live code and refresh token, whatever earlier examples did
    extra, headers = client_auth(case.auth, case.junk_auth, creds, other)
    if case.raw_body is not None:
        body = case.raw_body
    else:
        body = encode_pairs(apply_all(token_base(case, creds) + extra, case.edits)).encode()
    headers["content-type"] = header_bytes(case.ctype)
    out = fuzz.send("POST", "/token", body=body, headers=headers)
    params = decode(body)
    check_survived(out)
    check_json_error(out)
    if out.status == 200:
        check_token_success(out, case, creds, params)
    else:
        check_unchanged(out)  # in particular no grant and no refresh token
    if case.raw_body is None and not case.edits and genuine_auth(case.auth, creds) and case.ctype == FORM:
        assert out.status == 200, out.describe()


# --------------------------------------------------------------------------------------------------------------
# /revoke
# --------------------------------------------------------------------------------------------------------------

REVOKE_KEYS = ["token", "token_type_hint", "client_id", "client_secret"]


@dataclass(frozen=True)
class RevokeCase:
    who: str
    token: str
    hint: str | None
    edits: list[Mutation]
    auth: str
    junk_auth: str
    ctype: str
    raw_body: bytes | None


revoke_cases = st.builds(
    RevokeCase,
    who=st.sampled_from(["public", "confidential"]),
    token=st.sampled_from(["access", "access", "refresh", "other-access", "junk"]),
    hint=st.sampled_from([None, "access_token", "refresh_token", "id_token"]),
    edits=mutations(REVOKE_KEYS, max_size=2),
    auth=st.sampled_from(["keep", "keep", "keep", "drop", "junk", "wrong-secret", "other-client", "post"]),
    junk_auth=basic_junk,
    ctype=st.one_of(st.just(FORM), st.just(FORM), content_types),
    raw_body=st.one_of(st.none(), st.none(), st.none(), st.none(), random_body),
)


def revoke_token_value(case: RevokeCase, creds: Credentials, other: Credentials) -> str:
    if case.token == "access":
        return creds.access_tokens[-1]
    if case.token == "refresh":
        return creds.refresh_token
    if case.token == "other-access":
        return other.access_tokens[-1]
    return "rt_junk-token"


@fuzz_settings(200)
@given(case=revoke_cases)
def test_revoke_fuzz(fuzz: Fuzz, case: RevokeCase) -> None:
    all_creds = fuzz.creds()
    creds, other = all_creds[case.who], all_creds["confidential" if case.who == "public" else "public"]
    extra, headers = client_auth(case.auth, case.junk_auth, creds, other)
    token = revoke_token_value(case, creds, other)
    base: Pairs = [("token", token), *([("token_type_hint", case.hint)] if case.hint else []), *extra]
    body = case.raw_body if case.raw_body is not None else encode_pairs(apply_all(base, case.edits)).encode()
    headers["content-type"] = header_bytes(case.ctype)
    out = fuzz.send("POST", "/revoke", body=body, headers=headers)
    params = decode(body)
    check_survived(out)
    check_json_error(out)
    if out.status != 200:
        assert out.response is not None and out.response.json()["error"] in ("invalid_client", "invalid_request")
        check_unchanged(out)
        return
    assert out.response is not None and out.response.json() == {}, out.describe()
    if out.delta():
        assert out.delta() == {"revoked_access_tokens": 1}, out.describe()
        assert single(params, "token") in creds.access_tokens and genuine_auth(case.auth, creds), out.describe()


# --------------------------------------------------------------------------------------------------------------
# Fully random requests to every endpoint
# --------------------------------------------------------------------------------------------------------------

ENDPOINTS = [("POST", "/register"), ("GET", "/authorize"), ("POST", "/consent"), ("GET", "/callback"),
             ("POST", "/token"), ("POST", "/revoke")]  # fmt: skip
BROWSER_PATHS = ("/authorize", "/consent", "/callback")
random_headers = st.dictionaries(
    st.sampled_from(
        [
            "authorization",
            "origin",
            "sec-fetch-site",
            "cookie",
            "content-type",
            "x-forwarded-for",
            "x-forwarded-proto",
            "x-forwarded-host",
            "accept",
        ]
    ),
    st.one_of(header_text, basic_junk, origin_header),
    max_size=4,
)


@fuzz_settings(300)
@given(
    endpoint=st.sampled_from(ENDPOINTS),
    query=st.one_of(st.just(b""), random_query),
    body=random_body,
    ctype=content_types,
    headers=random_headers,
)
def test_random_requests(
    fuzz: Fuzz, endpoint: tuple[str, str], query: bytes, body: bytes, ctype: str, headers: dict[str, str]
) -> None:
    method, path = endpoint
    sent = {name: header_bytes(value) for name, value in headers.items()}
    sent.setdefault("content-type", header_bytes(ctype))
    out = fuzz.send(method, path, query=query, body=body if method == "POST" else None, headers=sent)
    check_survived(out)
    assert out.location is None, f"redirect on random input\n{out.describe()}"
    if path in BROWSER_PATHS:
        check_html_error(out)
    else:
        check_json_error(out)
    check_unchanged(out)


# --------------------------------------------------------------------------------------------------------------
# Regression tests for the product bugs the fuzzer found (deterministic; each failed before its fix)
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("resource", ["https://[", "https://a\u2100b/mcp"])
def test_authorize_with_an_unparseable_resource_redirects_invalid_target(env: Env, resource: str) -> None:
    """Was: ``urlsplit`` raised ValueError ("Invalid IPv6 URL", NFKC netloc) inside ``validate_resource``: 500."""

    async def run() -> httpx.Response:
        client = await env.register()
        _, challenge = pkce()
        async with env.browser() as browser:
            return await browser.get(env.authorize_url(client["client_id"], challenge, resource=resource))

    r = anyio.run(run)
    assert r.status_code == 302
    assert query_of(r.headers["location"])["error"] == "invalid_target"


def test_refresh_with_an_unparseable_resource_is_a_json_error(env: Env) -> None:
    """Was: the same ValueError from /token's refresh grant, reachable with any client id and a junk token."""

    async def run() -> httpx.Response:
        client = await env.register()
        return await env.token(grant_type="refresh_token", refresh_token="x", client_id=client["client_id"],
                               resource="https://[")  # fmt: skip

    r = anyio.run(run)
    assert r.status_code == 400
    assert r.json()["error"] in ("invalid_target", "invalid_grant")


def test_code_redemption_with_an_unparseable_resource_is_a_json_error(env: Env) -> None:
    """Was: the same ValueError from /token's authorization_code grant (after PKCE passed): 500."""

    async def run() -> httpx.Response:
        client = await env.register()
        verifier, challenge = pkce()
        async with env.browser() as browser:
            trip = await env.drive(browser, env.authorize_url(client["client_id"], challenge))
        return await env.token(grant_type="authorization_code", code=trip.params["code"], redirect_uri=APP_REDIRECT,
                               client_id=client["client_id"], code_verifier=verifier, resource="https://[")  # fmt: skip

    r = anyio.run(run)
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_grant"


def _count_clients(env: Env) -> int:
    with env.ctx.store.db.engine.connect() as conn:
        return int(conn.execute(text("SELECT COUNT(*) FROM clients")).scalar_one())


def test_register_with_deeply_nested_json_is_invalid_client_metadata(env: Env) -> None:
    """Was: ``json.loads`` raised RecursionError (not ValueError) on 1 KB of ``[``: 500."""

    async def run() -> httpx.Response:
        async with env.api() as api:
            return await api.post("/register", content=b"[" * 1000, headers={"content-type": "application/json"})

    r = anyio.run(run)
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_client_metadata"
    assert _count_clients(env) == 0


@pytest.mark.parametrize("path", ["/consent", "/apps/revoke", "/confirm/drf_x"])
def test_oversized_browser_form_posts_get_an_html_page(env: Env, path: str) -> None:
    """Was: the body-limit middleware answered browser form POSTs (consent, connected apps, intent confirmation)
    with JSON."""

    async def run() -> httpx.Response:
        async with env.browser() as browser:
            return await browser.post(path, content=b"x" * 70_000, headers={"content-type": FORM})

    r = anyio.run(run)
    assert r.status_code == 413
    assert r.headers["content-type"].startswith("text/html")


def test_oversized_api_posts_still_get_json(env: Env) -> None:
    async def run() -> httpx.Response:
        async with env.api() as api:
            return await api.post("/token", content=b"x" * 70_000, headers={"content-type": FORM})

    r = anyio.run(run)
    assert r.status_code == 413 and r.headers["content-type"].startswith("application/json")
