"""Configuration of the fake provider: which clients and users exist and how strict the server is.

Everything is a frozen dataclass so one settings object can be shared by the app, the tests and the demo
without anyone mutating it behind another's back.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_CONSENT_COOKIE_MAX_AGE = 365 * 24 * 3600


@dataclass(frozen=True)
class AcmeClient:
    """A registered OAuth client. All Acme clients are confidential: they hold a secret."""

    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...]
    name: str

    def __post_init__(self) -> None:
        if not self.client_id or not self.client_secret:
            raise ValueError("AcmeClient needs a client_id and a client_secret")
        if not self.redirect_uris:
            raise ValueError(f"AcmeClient {self.client_id!r} needs at least one redirect URI")


@dataclass(frozen=True)
class AcmeUser:
    """An Acme account. ``user_id`` is the stable ``sub`` a connector should key on, never the username."""

    username: str
    password: str
    name: str
    email: str
    user_id: str


@dataclass(frozen=True)
class AcmeSettings:
    """How the fake provider behaves; the defaults mirror a typical SaaS provider, not a hardened one."""

    issuer: str
    clients: tuple[AcmeClient, ...]
    users: tuple[AcmeUser, ...]
    require_pkce: bool = False
    access_token_ttl: int = 3600
    refresh_token_rotation: bool = True
    consent_cookie_max_age: int = DEFAULT_CONSENT_COOKIE_MAX_AGE
    seed: bool = True
    _clients_by_id: dict[str, AcmeClient] = field(init=False, repr=False, compare=False)
    _users_by_name: dict[str, AcmeUser] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.issuer or self.issuer.endswith("/"):
            raise ValueError("issuer must be a non-empty base URL without a trailing slash")
        if self.access_token_ttl <= 0 or self.consent_cookie_max_age <= 0:
            raise ValueError("access_token_ttl and consent_cookie_max_age must be positive")
        clients = {client.client_id: client for client in self.clients}
        users = {user.username: user for user in self.users}
        if len(clients) != len(self.clients) or len(users) != len(self.users):
            raise ValueError("client_id and username values must be unique")
        if len({user.user_id for user in self.users}) != len(self.users):
            raise ValueError("user_id values must be unique")
        object.__setattr__(self, "_clients_by_id", clients)
        object.__setattr__(self, "_users_by_name", users)

    def client(self, client_id: str) -> AcmeClient | None:
        return self._clients_by_id.get(client_id)

    def user_by_username(self, username: str) -> AcmeUser | None:
        return self._users_by_name.get(username)

    def user_by_id(self, user_id: str) -> AcmeUser | None:
        return next((user for user in self.users if user.user_id == user_id), None)

    def endpoint(self, path: str) -> str:
        return f"{self.issuer}{path}"


DEMO_USERS: tuple[AcmeUser, ...] = (
    AcmeUser("alice", "alice-password", "Alice Example", "alice@acme.example", "acme-u-1001"),
    AcmeUser("bob", "bob-password", "Bob Example", "bob@acme.example", "acme-u-1002"),
)


def default_settings(
    issuer: str,
    deputy_callback_uri: str,
    client_id: str = "deputy-demo",
    client_secret: str = "deputy-demo-secret",  # noqa: S107 - a published demo credential, not a secret
) -> AcmeSettings:
    """The standard demo world: Alice and Bob, and one client registered for exactly Deputy's callback."""
    client = AcmeClient(client_id, client_secret, (deputy_callback_uri,), "Deputy (Acme CRM connector)")
    return AcmeSettings(issuer=issuer, clients=(client,), users=DEMO_USERS)
