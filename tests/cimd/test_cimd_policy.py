"""The pure policies under the fetcher: URL parsing, address ranges, domain lists and cache lifetimes."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deputy.net.addresses import address_refusal
from deputy.net.cache_control import DEFAULT_SECONDS, cache_seconds
from deputy.net.urls import UrlRefusedError, host_in_domain, parse_https_url


@pytest.mark.parametrize(
    ("url", "host", "port", "target"),
    [
        ("https://app.example.com/client.json", "app.example.com", 443, "/client.json"),
        ("https://app.example.com:8443/c?v=1", "app.example.com", 8443, "/c?v=1"),
        ("https://93.184.216.34/c", "93.184.216.34", 443, "/c"),
        ("https://[2606:4700::1111]:444/c", "2606:4700::1111", 444, "/c"),
        ("https://xn--bcher-kva.example/c", "xn--bcher-kva.example", 443, "/c"),
    ],
)
def test_plain_https_urls_parse(url: str, host: str, port: int, target: str) -> None:
    parsed = parse_https_url(url)
    assert (parsed.host, parsed.port, parsed.target) == (host, port, target)


@pytest.mark.parametrize(
    "url",
    [
        "http://app.example.com/c",
        "HTTPS://app.example.com/c",
        "https://app.example.com",
        "https://app.example.com?x=1",
        "https://user:pw@app.example.com/c",
        "https://app.example.com@evil.example/c",
        "https://app.example.com/c#frag",
        "https://app.example.com:0/c",
        "https://app.example.com:65536/c",
        "https://app.example.com:08443/c",
        "https://app.example.com:/c",
        "https://App.Example.com/c",
        "https://app.example.com./c",
        "https://app..example.com/c",
        "https://-app.example.com/c",
        "https://app_1.example.com/c",
        "https://0x7f.1/c",
        "https://0177.0.0.1/c",
        "https://2130706433/c",
        "https://127.1/c",
        "https://1.2.3.4.5/c",
        "https://[::FFFF:7F00:1]/c",
        "https://[0:0:0:0:0:0:0:1]/c",
        "https://[::1%25eth0]/c",
        "https://[::1/c",
        "https://app.example.com\\@evil.example/c",
        "https://app.example.com/c d",
        "https://bücher.example/c",
        "https://xn--zz.example/c",
        "https://" + "a" * 2000 + ".example/c",
    ],
)
def test_urls_with_more_than_one_reading_are_refused(url: str) -> None:
    with pytest.raises(UrlRefusedError):
        parse_https_url(url)


@given(st.text(max_size=80))
def test_any_text_either_parses_consistently_or_is_refused(text: str) -> None:
    url = "https://" + text
    try:
        parsed = parse_https_url(url)
    except UrlRefusedError:
        return
    assert url.startswith(f"https://{parsed.authority}{parsed.target}")
    assert parsed.host == parsed.host.lower() and not parsed.host.endswith(".")


def test_domains_match_on_label_boundaries() -> None:
    assert host_in_domain("example.com", "example.com")
    assert host_in_domain("a.b.example.com", "example.com")
    assert host_in_domain("a.example.com", "Example.COM.")
    assert not host_in_domain("badexample.com", "example.com")
    assert not host_in_domain("example.com.evil.net", "example.com")
    assert not host_in_domain("example.com", "")


@pytest.mark.parametrize(
    "address",
    ["8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700:4700::1111", "2a00:1450:4001::200e", "64:ff9b::808:808"],
)
def test_public_unicast_addresses_are_allowed(address: str) -> None:
    assert address_refusal(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.255.255.254",
        "::1",
        "10.1.2.3",
        "169.254.169.254",
        "100.100.100.200",  # Alibaba Cloud metadata (CGNAT range)
        "192.88.99.1",
        "198.18.0.1",
        "255.255.255.255",
        "::",
        "::ffff:8.8.8.8",
        "::8.8.8.8",
        "2002:808:808::1",
        "fec0::1",
        "100::1",
        "3fff::1",
    ],
)
def test_private_reserved_and_tunnelled_addresses_are_refused(address: str) -> None:
    assert address_refusal(ipaddress.ip_address(address)) is not None


def test_loopback_fetch_admits_exactly_loopback() -> None:
    def allowed(text: str) -> bool:
        return address_refusal(ipaddress.ip_address(text), allow_loopback=True) is None

    assert allowed("127.0.0.1") and allowed("127.8.9.10") and allowed("::1")
    others = ("10.0.0.1", "192.168.0.1", "169.254.169.254", "::ffff:7f00:1", "64:ff9b::7f00:1", "fd00::1")
    assert not any(allowed(a) for a in others)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (None, DEFAULT_SECONDS),
        ("public", DEFAULT_SECONDS),
        ("max-age=60", 60),
        ("public, max-age=120, must-revalidate", 120),
        ('max-age="90"', 90),
        ("MAX-AGE=30", 30),
        ("max-age=0", 0),
        ("no-store", 0),
        ("max-age=600, no-store", 0),
        ("no-cache, max-age=600", 0),
        ("max-age=-5", 0),
        ("max-age=abc", 0),
        ("max-age=60, max-age=6000", 60),
        ("max-age=60 garbage", 0),
        ("max-age=99999999999999999999999", 7 * 86400),
    ],
)
def test_cache_control_lifetimes(header: str | None, seconds: int) -> None:
    assert cache_seconds(header) == seconds


def test_cache_lifetime_is_capped() -> None:
    assert cache_seconds("max-age=9999999") == 7 * 86400
    assert cache_seconds("max-age=9999999", cap=3600) == 3600
    assert cache_seconds(None, cap=10) == 10
