"""Settings: the standard demo world and the guards against unusable configurations."""

from __future__ import annotations

import dataclasses

import pytest
from acme_flow import CALLBACK, ISSUER

from deputy.demo.acme import AcmeClient, AcmeSettings, AcmeUser, default_settings


def test_default_settings_build_the_demo_world() -> None:
    settings = default_settings(ISSUER, CALLBACK)
    assert settings.issuer == ISSUER
    assert [(u.username, u.password, u.name, u.user_id) for u in settings.users] == [
        ("alice", "alice-password", "Alice Example", "acme-u-1001"),
        ("bob", "bob-password", "Bob Example", "acme-u-1002"),
    ]
    (client,) = settings.clients
    assert client == AcmeClient("deputy-demo", "deputy-demo-secret", (CALLBACK,), "Deputy (Acme CRM connector)")
    assert not settings.require_pkce and settings.refresh_token_rotation and settings.seed
    assert (settings.access_token_ttl, settings.consent_cookie_max_age) == (3600, 365 * 24 * 3600)


def test_default_settings_take_client_credentials() -> None:
    settings = default_settings(ISSUER, CALLBACK, client_id="mine", client_secret="s3cret")
    assert settings.client("mine") == AcmeClient("mine", "s3cret", (CALLBACK,), "Deputy (Acme CRM connector)")
    assert settings.client("deputy-demo") is None


def test_lookups() -> None:
    settings = default_settings(ISSUER, CALLBACK)
    alice = settings.user_by_username("alice")
    assert alice is not None and settings.user_by_id("acme-u-1001") == alice
    assert settings.user_by_username("mallory") is None and settings.user_by_id("x") is None
    assert settings.endpoint("/token") == f"{ISSUER}/token"


def test_settings_are_frozen() -> None:
    settings = default_settings(ISSUER, CALLBACK)
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.issuer = "http://elsewhere"  # type: ignore[misc]


USER = AcmeUser("u", "p", "U", "u@example.com", "acme-u-1")
CLIENT = AcmeClient("c", "s", (CALLBACK,), "C")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"issuer": ISSUER + "/"},
        {"issuer": ""},
        {"access_token_ttl": 0},
        {"consent_cookie_max_age": -1},
        {"clients": (CLIENT, CLIENT)},
        {"users": (USER, USER)},
        {"users": (USER, dataclasses.replace(USER, username="v"))},
    ],
)
def test_unusable_settings_are_refused(kwargs: dict[str, object]) -> None:
    base: dict[str, object] = {"issuer": ISSUER, "clients": (CLIENT,), "users": (USER,)}
    with pytest.raises(ValueError, match=r"."):
        AcmeSettings(**{**base, **kwargs})  # type: ignore[arg-type]


@pytest.mark.parametrize("args", [("", "s", (CALLBACK,), "n"), ("c", "", (CALLBACK,), "n"), ("c", "s", (), "n")])
def test_unusable_clients_are_refused(args: tuple[str, str, tuple[str, ...], str]) -> None:
    with pytest.raises(ValueError, match=r"."):
        AcmeClient(*args)
