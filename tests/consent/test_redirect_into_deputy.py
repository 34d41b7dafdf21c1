"""No redirect URI may point back into Deputy itself.

Otherwise a consent-page decision (even Deny) would navigate the browser from Deputy's page to Deputy's own
``/authorize`` as a same-origin request, which remembered consent trusts: an attacker client whose redirect URI is
``/authorize`` for a client the victim remembered would turn a cross-site start into a silent approval, with the
attacker's PKCE challenge. Refused at registration, in client metadata documents (the same validator) and, for any
client however it was configured, at ``/authorize``.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from consent_support import browser, connect, remember_env

from deputy.oauth.redirect_uri import is_on_origin, validate_registered_redirect_uri
from deputy.oauth.registration import InvalidRedirectUriError
from support import APP_REDIRECT, DEPUTY, RESOURCE, make_env, pkce

pytestmark = pytest.mark.anyio

INNER = DEPUTY + "/authorize?" + urlencode({"response_type": "code", "client_id": "x", "resource": RESOURCE})


@pytest.mark.parametrize(
    "uri",
    [INNER, DEPUTY + "/cb", "https://DEPUTY.example/x", "https://deputy.example:443/x", "https://deputy.example./x"],
)
def test_registration_refuses_redirect_uris_on_deputys_origin(uri: str) -> None:
    with pytest.raises(InvalidRedirectUriError):
        validate_registered_redirect_uri(uri, forbidden_origin=DEPUTY)


@pytest.mark.parametrize(
    "uri", ["https://app.example/cb", "https://deputy.example:8443/cb", "http://deputy.example/cb", APP_REDIRECT]
)
def test_other_origins_stay_allowed(uri: str) -> None:
    if uri.startswith("http://deputy"):
        assert not is_on_origin(uri, DEPUTY)
        return
    assert validate_registered_redirect_uri(uri, forbidden_origin=DEPUTY) == uri


async def test_a_loopback_redirect_requested_on_deputys_own_port_is_refused(tmp_path: Path) -> None:
    """A loopback redirect URI may change its port at authorization time (RFC 8252 §7.3), so one registered on
    another port must still be refused when requested on Deputy's own origin."""
    env = make_env(tmp_path, server={"base_url": "http://127.0.0.1:8000"})
    transport = httpx.ASGITransport(app=env.app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as api:
        reg = await api.post(
            "/register", json={"client_name": "x", "redirect_uris": ["http://127.0.0.1:5555/authorize"]}
        )
    assert reg.status_code == 201  # another port: fine
    registered = reg.json()
    _, challenge = pkce()
    query = {
        "response_type": "code",
        "client_id": registered["client_id"],
        "redirect_uri": "http://127.0.0.1:8000/authorize",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as ua:
        r = await ua.get("/authorize?" + urlencode(query))
    assert r.status_code == 400 and "points at Deputy itself" in r.text and "location" not in r.headers


async def test_dynamic_registration_refuses_it(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    async with env.api() as api:
        r = await api.post("/register", json={"client_name": "x", "redirect_uris": [INNER]})
    assert r.status_code == 400 and r.json()["error"] == "invalid_redirect_uri"


async def test_a_configured_client_pointing_into_deputy_gets_a_local_page_and_no_redirect(tmp_path: Path) -> None:
    env = make_env(
        tmp_path,
        clients=[{"client_id": "operator-tool", "client_name": "Operator tool", "redirect_uris": [INNER]}],
        consent={"prompt": "remember"},
    )
    _, challenge = pkce()
    query = {
        "response_type": "code",
        "client_id": "operator-tool",
        "redirect_uri": INNER,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "resource": RESOURCE,
    }
    async with browser(env, "same-origin") as ua:
        r = await ua.get("/authorize?" + urlencode(query))
    assert r.status_code == 400 and "points at Deputy itself" in r.text
    assert "location" not in r.headers


async def test_positive_control_remembered_consent_still_skips_the_page_for_a_normal_client(tmp_path: Path) -> None:
    env = remember_env(tmp_path)
    client = await env.register()
    ua: httpx.AsyncClient = browser(env, "none")
    first, _ = await connect(env, ua, client["client_id"])
    second, _ = await connect(env, ua, client["client_id"])
    await ua.aclose()
    assert first.kinds()[0] == "deputy-consent" and "code" in second.params
    assert "deputy-consent" not in second.kinds()
