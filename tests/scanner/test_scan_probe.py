"""The prober in isolation (httpx.MockTransport, no sockets): host policy, deadline, redirects, caps."""

from __future__ import annotations

import time

import httpx

from deputy.scanner.probe import MAX_BODY_BYTES, Prober
from deputy.scanner.urls import HostPolicy


def _recording(seen: list[str]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200)

    return httpx.MockTransport(handler)


def _prober(handler: httpx.MockTransport, *, deadline: float | None = None) -> Prober:
    client = httpx.Client(transport=handler, follow_redirects=False)
    policy = HostPolicy().with_url("https://target.example/mcp")
    end = time.monotonic() + 30 if deadline is None else deadline
    return Prober(client, policy=policy, timeout=5, deadline=end, progress=lambda _: None)


def test_other_hosts_are_never_requested() -> None:
    seen: list[str] = []
    prober = _prober(_recording(seen))
    x = prober.send("GET", "https://elsewhere.example/x?code=SECRET")
    assert x.skipped and not x.answered
    assert seen == []
    assert prober.not_fetched == ["https://elsewhere.example/x?code=<redacted>"]


def test_nothing_is_sent_after_the_deadline() -> None:
    seen: list[str] = []
    prober = _prober(_recording(seen), deadline=time.monotonic() - 1)
    x = prober.send("GET", "https://target.example/mcp")
    assert x.skipped is not None and "max-seconds" in x.skipped
    assert seen == []


def test_get_json_follows_same_authority_redirects_only() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        if request.url.path == "/a":
            return httpx.Response(302, headers={"location": "/b"})
        if request.url.path == "/b":
            return httpx.Response(302, headers={"location": "https://elsewhere.example/c"})
        return httpx.Response(200, json={})

    prober = _prober(httpx.MockTransport(handler))
    hops, doc = prober.get_json("https://target.example/a")
    assert doc is None
    assert [h.status for h in hops] == [302, 302]
    assert seen == ["https://target.example/a", "https://target.example/b"]
    assert prober.not_fetched == ["https://elsewhere.example/c"]


def test_redirect_loops_are_bounded() -> None:
    count = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal count
        count += 1
        return httpx.Response(302, headers={"location": "/again"})

    hops, doc = _prober(httpx.MockTransport(handler)).get_json("https://target.example/again")
    assert doc is None and count == len(hops) == 4


def test_bodies_are_capped_and_errors_recorded_redacted() -> None:
    big = _prober(httpx.MockTransport(lambda r: httpx.Response(200, content=b"x" * (MAX_BODY_BYTES * 2))))
    assert len(big.send("GET", "https://target.example/big").body) == MAX_BODY_BYTES

    def fail(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused: access_token=LEAKED", request=request)

    x = _prober(httpx.MockTransport(fail)).send("GET", "https://target.example/mcp")
    assert x.error is not None and "ConnectError" in x.error and "LEAKED" not in x.error


def test_cookies_do_not_carry_over_between_probes() -> None:
    sent_cookies: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent_cookies.append(request.headers.get("cookie"))
        return httpx.Response(200, headers={"set-cookie": "sid=abc; Path=/"})

    prober = _prober(httpx.MockTransport(handler))
    prober.send("GET", "https://target.example/1")
    prober.send("GET", "https://target.example/2")
    assert sent_cookies == [None, None]
