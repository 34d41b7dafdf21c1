"""The SSRF-safe fetcher against a real TLS server on loopback: what it fetches, and every way it refuses.

Each refusal is asserted on its reason and on the server's log: a refused fetch must not have reached the server.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest
from cimd_support import DocServer, LocalCa, Route, ScriptedResolver, ip

from deputy.net.addresses import IPAddress
from deputy.net.fetcher import FetchError, FetchPolicy, Resolver, SafeFetcher

pytestmark = pytest.mark.anyio

DOC = {"client_id": "x", "redirect_uris": []}


def fetcher(ca: LocalCa, resolver: Resolver | None = None, **policy: Any) -> SafeFetcher:
    options: dict[str, Any] = {"allow_loopback": True, **policy}
    if resolver is None:
        return SafeFetcher(FetchPolicy(**options), ssl_context=ca.client_context())
    return SafeFetcher(FetchPolicy(**options), resolver=resolver, ssl_context=ca.client_context())


async def refused(f: SafeFetcher, url: str) -> str:
    with pytest.raises(FetchError) as info:
        await f.fetch_json(url)
    return info.value.reason


async def test_fetches_a_document_from_loopback_when_allowed(ca: LocalCa, docs: DocServer) -> None:
    docs.serve_json("/doc", DOC)
    fetched = await fetcher(ca).fetch_json(docs.url("/doc"))
    assert json.loads(fetched.body) == DOC
    assert docs.seen[0].host == f"localhost:{docs.port}"


async def test_loopback_is_refused_unless_loopback_fetch_is_on(ca: LocalCa, docs: DocServer) -> None:
    docs.serve_json("/doc", DOC)
    f = fetcher(ca, allow_loopback=False)
    assert await refused(f, docs.url("/doc")) == "address-loopback"
    assert await refused(f, docs.url("/doc", host="127.0.0.1")) == "address-loopback"
    assert await refused(f, docs.url("/doc", host="[::1]")) == "address-loopback"
    assert docs.seen == []


@pytest.mark.parametrize("loopback", [False, True])
@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("10.0.0.1", "address-private"),
        ("172.16.5.4", "address-private"),
        ("192.168.1.1", "address-private"),
        ("100.64.0.1", "address-shared"),
        ("0.0.0.0", "address-unspecified"),  # noqa: S104
        ("224.0.0.1", "address-multicast"),
        ("192.0.2.10", "address-documentation"),
        ("240.0.0.1", "address-reserved"),
        ("[fd00::1]", "address-unique-local"),
        ("[fe80::1]", "address-link-local"),
        ("[2001:db8::1]", "address-documentation"),
        ("[ff02::1]", "address-multicast"),
    ],
)
async def test_private_and_reserved_literals_are_refused_even_with_loopback_fetch(
    ca: LocalCa, loopback: bool, host: str, reason: str
) -> None:
    assert await refused(fetcher(ca, allow_loopback=loopback), f"https://{host}/doc") == reason


@pytest.mark.parametrize("loopback", [False, True])
async def test_names_resolving_to_private_addresses_are_refused(ca: LocalCa, loopback: bool) -> None:
    resolver = ScriptedResolver({"intranet.cimd.test": [[ip("10.0.0.1")]], "db.cimd.test": [[ip("fd12::5")]]})
    f = fetcher(ca, resolver, allow_loopback=loopback)
    assert await refused(f, "https://intranet.cimd.test/doc") == "address-private"
    assert await refused(f, "https://db.cimd.test/doc") == "address-unique-local"


async def test_cloud_metadata_address_is_refused(ca: LocalCa) -> None:
    resolver = ScriptedResolver({"metadata.cimd.test": [[ip("169.254.169.254")]]})
    f = fetcher(ca, resolver)
    assert await refused(f, "https://169.254.169.254/latest/meta-data/") == "address-link-local"
    assert await refused(f, "https://metadata.cimd.test/latest/meta-data/") == "address-link-local"


@pytest.mark.parametrize(
    "host",
    [
        "0x7f.0.0.1",  # hex
        "0x7f000001",
        "0177.0.0.1",  # octal
        "2130706433",  # decimal
        "127.1",  # shortened
        "127.0.1",
        "localhost.",  # trailing dot
        "LOCALHOST",  # one spelling per host
        "[::ffff:127.0.0.1]",  # not the canonical spelling
        "[fe80::1%25lo]",  # zone id
        "%6c%6fcalhost",  # percent-encoded
    ],
)
async def test_ambiguous_host_forms_are_refused_before_resolution(ca: LocalCa, docs: DocServer, host: str) -> None:
    docs.serve_json("/doc", DOC)
    resolver = ScriptedResolver({})
    assert await refused(fetcher(ca, resolver), f"https://{host}:{docs.port}/doc") == "url"
    assert resolver.calls == [] and docs.seen == []


async def test_ipv4_mapped_ipv6_is_refused_with_loopback_fetch_off_and_on(ca: LocalCa, docs: DocServer) -> None:
    docs.serve_json("/doc", DOC)
    off, on = fetcher(ca, allow_loopback=False), fetcher(ca, allow_loopback=True)
    assert await refused(off, f"https://[::ffff:7f00:1]:{docs.port}/doc") == "address-ipv4-mapped"
    assert await refused(on, f"https://[::ffff:7f00:1]:{docs.port}/doc") == "address-ipv4-mapped"  # loopback hidden
    assert await refused(on, "https://[::ffff:a00:1]/doc") == "address-ipv4-mapped"  # ::ffff:10.0.0.1
    assert docs.seen == []


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("::ffff:10.0.0.1", "address-ipv4-mapped"),
        ("::10.0.0.1", "address-ipv4-compatible"),
        ("64:ff9b::10.0.0.1", "address-nat64-private"),
        ("64:ff9b::127.0.0.1", "address-nat64-loopback"),
        ("64:ff9b::169.254.169.254", "address-nat64-link-local"),
        ("64:ff9b:1::a00:1", "address-nat64-local"),
        ("2002:a00:1::1", "address-6to4"),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "address-reserved"),  # Teredo
    ],
)
async def test_ipv6_forms_that_carry_ipv4_are_refused(ca: LocalCa, address: str, reason: str) -> None:
    resolver = ScriptedResolver({"tunnel.cimd.test": [[ip(address)]]})
    assert await refused(fetcher(ca, resolver), "https://tunnel.cimd.test/doc") == reason


async def test_one_private_address_in_the_answer_refuses_the_whole_name(ca: LocalCa, docs: DocServer) -> None:
    docs.serve_json("/doc", DOC)
    resolver = ScriptedResolver({"mixed.cimd.test": [[ip("127.0.0.1"), ip("10.0.0.1")]]})
    assert await refused(fetcher(ca, resolver), f"https://mixed.cimd.test:{docs.port}/doc") == "address-private"
    assert docs.seen == []


async def test_redirects_are_not_followed(ca: LocalCa, docs: DocServer) -> None:
    docs.serve_json("/elsewhere", DOC)
    docs.routes["/to-loopback"] = Route(b"", status=302, headers={"Location": docs.url("/elsewhere")})
    docs.routes["/to-private"] = Route(b"", status=307, headers={"Location": "https://10.0.0.1/doc"})
    f = fetcher(ca)
    assert await refused(f, docs.url("/to-loopback")) == "redirect"
    assert await refused(f, docs.url("/to-private")) == "redirect"
    assert docs.paths_seen() == ["/to-loopback", "/to-private"]  # the targets were never requested


async def test_dns_answer_that_changes_after_the_check_cannot_move_the_connection(ca: LocalCa, docs: DocServer) -> None:
    """The resolver answers with a checked address first and a private one afterwards (rebinding). The fetch
    resolves once, connects to the checked address, and never asks again; the next fetch checks the new answer."""
    docs.serve_json("/doc", DOC)
    resolver = ScriptedResolver({"rebind.cimd.test": [[ip("127.0.0.1")], [ip("10.0.0.1")]]})
    f = fetcher(ca, resolver)
    fetched = await f.fetch_json(f"https://rebind.cimd.test:{docs.port}/doc")
    assert json.loads(fetched.body) == DOC
    assert resolver.calls == ["rebind.cimd.test"]
    assert docs.seen[0].host == f"rebind.cimd.test:{docs.port}"  # spoke to the pinned address as the named host
    assert await refused(f, f"https://rebind.cimd.test:{docs.port}/doc") == "address-private"
    assert len(docs.seen) == 1  # the second answer reached nothing


async def test_the_certificate_must_match_the_name_not_the_pinned_address(ca: LocalCa, docs: DocServer) -> None:
    docs.serve_json("/doc", DOC)
    resolver = ScriptedResolver({"docs.cimd.test": [[ip("127.0.0.1")]], "other.example": [[ip("127.0.0.1")]]})
    f = fetcher(ca, resolver)
    assert (await f.fetch_json(f"https://docs.cimd.test:{docs.port}/doc")).body  # positive control
    assert await refused(f, f"https://other.example:{docs.port}/doc") == "connect"  # not in the certificate
    assert len(docs.seen) == 1


async def test_an_untrusted_certificate_is_refused(ca: LocalCa, docs: DocServer) -> None:
    docs.serve_json("/doc", DOC)
    f = SafeFetcher(FetchPolicy(allow_loopback=True))  # the system trust store does not know the test CA
    assert await refused(f, docs.url("/doc")) == "connect"
    assert docs.seen == []


@pytest.mark.parametrize("declared", [True, False])
async def test_oversize_documents_are_cut_off(ca: LocalCa, docs: DocServer, declared: bool) -> None:
    body = json.dumps({"client_id": "x", "padding": "a" * 6000}).encode()
    docs.routes["/big"] = Route(body, content_length=declared)
    docs.routes["/fits"] = Route(json.dumps({"p": "a" * 5000}).encode())
    f = fetcher(ca, max_bytes=5120)
    assert await refused(f, docs.url("/big")) == "too-large"
    assert (await f.fetch_json(docs.url("/fits"))).body  # just under the limit


async def test_a_slow_server_runs_into_the_deadline(ca: LocalCa, docs: DocServer) -> None:
    docs.routes["/slow"] = Route(json.dumps({"p": "a" * 200}).encode(), trickle=0.05)
    assert await refused(fetcher(ca, timeout_seconds=1.0), docs.url("/slow")) == "timeout"


async def test_a_slow_resolver_runs_into_the_same_deadline(ca: LocalCa) -> None:
    async def hanging(host: str, port: int) -> list[IPAddress]:
        await anyio.sleep(30)
        return []

    assert await refused(fetcher(ca, hanging, timeout_seconds=0.5), "https://hang.cimd.test/doc") == "timeout"


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"Content-Type": "text/html"}, "content-type"),
        ({"Content-Type": "application/javascript"}, "content-type"),
        ({}, "content-type"),
        ({"Content-Type": "application/json", "Content-Encoding": "gzip"}, "content-encoding"),
    ],
)
async def test_only_uncompressed_json_is_accepted(
    ca: LocalCa, docs: DocServer, headers: dict[str, str], reason: str
) -> None:
    docs.routes["/doc"] = Route(json.dumps(DOC).encode(), headers=headers)
    assert await refused(fetcher(ca), docs.url("/doc")) == reason


async def test_json_subtypes_are_accepted(ca: LocalCa, docs: DocServer) -> None:
    docs.routes["/jwks"] = Route(b'{"keys":[]}', headers={"Content-Type": "application/jwk-set+json; charset=utf-8"})
    assert (await fetcher(ca).fetch_json(docs.url("/jwks"))).body == b'{"keys":[]}'


@pytest.mark.parametrize("status", [204, 404, 500])
async def test_only_200_is_accepted(ca: LocalCa, docs: DocServer, status: int) -> None:
    docs.routes["/doc"] = Route(b"{}", status=status)
    assert await refused(fetcher(ca), docs.url("/doc")) == f"status-{status}"


async def test_deny_list_and_allow_list_match_on_label_boundaries(ca: LocalCa, docs: DocServer) -> None:
    docs.serve_json("/doc", DOC)
    resolver = ScriptedResolver({"a.cimd.test": [[ip("127.0.0.1")]], "badcimd.test": [[ip("127.0.0.1")]]})
    url_a, url_bad = f"https://a.cimd.test:{docs.port}/doc", f"https://badcimd.test:{docs.port}/doc"
    assert await refused(fetcher(ca, resolver, deny_domains=("cimd.test",)), url_a) == "domain-denied"
    assert await refused(fetcher(ca, resolver, allow_domains=("cimd.test",)), url_bad) == "domain-not-allowed"
    assert await refused(fetcher(ca, allow_domains=("cimd.test",)), docs.url("/doc", host="127.0.0.1")) == (
        "domain-not-allowed"  # an address literal is in no domain
    )
    assert docs.seen == []
    assert (await fetcher(ca, resolver, allow_domains=("cimd.test",)).fetch_json(url_a)).body


async def test_cache_lifetime_comes_from_cache_control_capped(ca: LocalCa, docs: DocServer) -> None:
    docs.serve_json("/a", DOC, cache_control="public, max-age=60")
    docs.serve_json("/b", DOC, cache_control="no-store")
    docs.serve_json("/c", DOC, cache_control="max-age=99999999")
    f = fetcher(ca, max_cache_seconds=3600)
    assert (await f.fetch_json(docs.url("/a"))).cache_seconds == 60
    assert (await f.fetch_json(docs.url("/b"))).cache_seconds == 0
    assert (await f.fetch_json(docs.url("/c"))).cache_seconds == 3600
