"""The throwaway client's redirect listener: loopback only, records what arrives, bounded lifetime."""

from __future__ import annotations

import httpx

from deputy.scanner.listener import CallbackListener


def test_listener_records_and_redacts_then_stops() -> None:
    with CallbackListener(max_lifetime=30) as listener:
        assert listener.redirect_uri.startswith("http://127.0.0.1:")
        r = httpx.get(listener.redirect_uri + "?code=SECRET&state=s", timeout=5)
        assert r.status_code == 200
        assert listener.hits == ("GET /callback?code=<redacted>&state=s",)
    try:
        httpx.get(listener.redirect_uri, timeout=2)
        raise AssertionError("the listener still answers after close")
    except httpx.TransportError:
        pass


def test_listener_shuts_itself_down_after_its_lifetime() -> None:
    listener = CallbackListener(max_lifetime=0.2)
    with listener:
        listener._thread.join(timeout=5)  # the watchdog ends serve_forever; no sleeping
        assert not listener._thread.is_alive()
