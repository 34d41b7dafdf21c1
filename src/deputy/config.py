"""Settings: a TOML file plus ``DEPUTY_*`` environment overrides. The only module that reads the environment.

Environment variables override the file, nested with ``__``: ``DEPUTY_SERVER__BASE_URL=https://mcp.example.com``,
``DEPUTY_UPSTREAM__CLIENT_SECRET=…``. Every key is documented in ``docs/configuration.md``. A bad value stops
start-up with one message naming the key (``load_settings`` turns pydantic's report into a ``ConfigError``).

The upstream group is deliberately flat: a provider preset (a later feature) is just a named dict of defaults
for these same keys, merged under whatever the operator wrote.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from deputy.errors import ConfigError

__all__ = [
    "ClientSettings",
    "KeySettings",
    "LifetimeSettings",
    "RegistrationSettings",
    "ScopeSettings",
    "ServerSettings",
    "Settings",
    "StorageSettings",
    "ToolsSettings",
    "UpstreamSettings",
    "load_settings",
]

_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")  # RFC 6749 §3.3 scope-token


class _Group(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_base_url(value: str, key: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{key} must be an absolute http(s) URL")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError(f"{key} must not carry a query, fragment or userinfo")
    if parts.scheme == "http" and not _is_loopback_host(parts.hostname):
        raise ValueError(f"{key} must use https (plain http is allowed only on loopback)")
    return value.rstrip("/")


def _is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ServerSettings(_Group):
    """Where Deputy listens and the public URL clients see (the issuer)."""

    base_url: str = "http://127.0.0.1:8000"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    tls_cert: Path | None = None
    tls_key: Path | None = None
    trusted_proxies: tuple[str, ...] = ()
    mcp_path: str = "/mcp"
    max_body_bytes: int = Field(default=64 * 1024, ge=1024, le=16 * 1024 * 1024)

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        return _check_base_url(value, "server.base_url")

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            ipaddress.ip_network(item, strict=False)
        return value

    @field_validator("mcp_path")
    @classmethod
    def _mcp_path(cls, value: str) -> str:
        if not re.fullmatch(r"(/[A-Za-z0-9._~-]+)+", value):
            raise ValueError("server.mcp_path must be an absolute path such as /mcp")
        return value

    @model_validator(mode="after")
    def _tls_pair(self) -> ServerSettings:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("server.tls_cert and server.tls_key must be given together")
        return self


class StorageSettings(_Group):
    """SQLite by default (created on first run); PostgreSQL with a ``postgresql+psycopg://`` URL."""

    url: str = "sqlite:///deputy-data/deputy.db"

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("sqlite:", "postgresql:", "postgresql+psycopg:")):
            raise ValueError("storage.url must be a sqlite:/// or postgresql+psycopg:// URL")
        return value


class KeySettings(_Group):
    """Key ring location. A missing ring is created only when ``create_if_missing`` is set (the demo does)."""

    file: Path = Path("deputy-data/keys.json")
    create_if_missing: bool = False


class LifetimeSettings(_Group):
    """Lifetimes in seconds. Short access tokens, one-shot codes, ten-minute flows."""

    access_token: int = Field(default=600, ge=30, le=86400)
    refresh_token: int = Field(default=30 * 86400, ge=300)
    authorization_code: int = Field(default=60, ge=10, le=600)
    flow: int = Field(default=600, ge=60, le=3600)
    browser_session: int = Field(default=14 * 86400, ge=300)
    unused_registration: int = Field(default=7 * 86400, ge=60)


class RegistrationSettings(_Group):
    """Dynamic client registration (RFC 7591) policy."""

    enabled: bool = True
    allowed_custom_schemes: tuple[str, ...] = ()
    max_client_name_length: int = Field(default=100, ge=8, le=200)
    max_redirect_uris: int = Field(default=10, ge=1, le=50)
    max_body_bytes: int = Field(default=16 * 1024, ge=1024, le=1024 * 1024)
    rate_limit_per_hour: int = Field(default=20, ge=1)


class ScopeSettings(_Group):
    """A Deputy scope as offered to MCP clients, and the upstream scopes it needs."""

    description: str
    upstream: tuple[str, ...] = ()

    @field_validator("upstream")
    @classmethod
    def _tokens(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            if not _SCOPE_TOKEN.fullmatch(item):
                raise ValueError(f"{item!r} is not a valid scope token")
        return value


class UpstreamSettings(_Group):
    """The third-party OAuth provider Deputy is a client of, through one static client_id."""

    name: str = "the upstream service"
    preset: str | None = None
    discovery_url: str | None = None
    issuer: str | None = None
    authorize_url: str | None = None
    token_url: str | None = None
    userinfo_url: str | None = None
    revocation_url: str | None = None
    api_base_url: str | None = None
    client_id: str = ""
    client_secret: SecretStr | None = None
    token_auth_method: Literal["client_secret_basic", "client_secret_post", "none"] = "client_secret_basic"
    scopes: tuple[str, ...] = ()
    pkce: bool = True
    forward_resource: bool = False
    user_id_from: Literal["userinfo", "token_response"] = "userinfo"
    user_id_claim: str = "sub"
    user_name_claim: str = "name"
    extra_authorize_params: dict[str, str] = Field(default_factory=dict)
    timeout_seconds: float = Field(default=10.0, gt=0, le=120)

    @model_validator(mode="after")
    def _endpoints(self) -> UpstreamSettings:
        if not self.client_id:
            raise ValueError("upstream.client_id is required")
        if self.discovery_url is None and (self.authorize_url is None or self.token_url is None):
            raise ValueError("upstream needs discovery_url, or both authorize_url and token_url")
        if self.user_id_from == "userinfo" and self.discovery_url is None and self.userinfo_url is None:
            raise ValueError("upstream.userinfo_url is required when user_id_from = 'userinfo'")
        return self


class ToolsSettings(_Group):
    """The MCP tools: a catalogue of upstream operations (see ``deputy tools import``)."""

    catalogue: Path | None = None
    timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    max_response_bytes: int = Field(default=1_000_000, ge=1024, le=64 * 1024 * 1024)
    allowed_origins: tuple[str, ...] = ()


class ClientSettings(_Group):
    """A pre-registered MCP client. Its secret is hashed on load; only the hash is stored."""

    client_id: str = Field(min_length=8, max_length=128, pattern=r"^[A-Za-z0-9._~-]+$")
    client_name: str = Field(min_length=1, max_length=200)
    redirect_uris: tuple[str, ...] = Field(min_length=1)
    client_secret: SecretStr | None = None
    token_endpoint_auth_method: Literal["none", "client_secret_basic", "client_secret_post"] = "none"
    scope: str | None = None

    @model_validator(mode="after")
    def _secret(self) -> ClientSettings:
        if (self.token_endpoint_auth_method == "none") != (self.client_secret is None):
            raise ValueError("client_secret is required exactly when token_endpoint_auth_method is not 'none'")
        return self


class Settings(BaseSettings):
    """The whole configuration. Frozen: built once at start-up and passed down."""

    model_config = SettingsConfigDict(
        env_prefix="DEPUTY_", env_nested_delimiter="__", extra="forbid", frozen=True, case_sensitive=False
    )

    server: ServerSettings = ServerSettings()
    storage: StorageSettings = StorageSettings()
    keys: KeySettings = KeySettings()
    lifetimes: LifetimeSettings = LifetimeSettings()
    registration: RegistrationSettings = RegistrationSettings()
    tools: ToolsSettings = ToolsSettings()
    upstream: UpstreamSettings
    scopes: dict[str, ScopeSettings] = Field(min_length=1)
    default_scopes: tuple[str, ...] = ()
    clients: tuple[ClientSettings, ...] = ()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment beats the file (init_settings carries the parsed TOML).
        return (env_settings, init_settings)

    @field_validator("scopes")
    @classmethod
    def _scope_names(cls, value: dict[str, ScopeSettings]) -> dict[str, ScopeSettings]:
        for name in value:
            if not _SCOPE_TOKEN.fullmatch(name) or name == "offline_access":
                raise ValueError(f"{name!r} is not a usable scope name")
        return value

    @model_validator(mode="after")
    def _defaults_known(self) -> Settings:
        unknown = set(self.default_scopes) - set(self.scopes)
        if unknown:
            raise ValueError(f"default_scopes names unknown scopes: {sorted(unknown)}")
        if len({c.client_id for c in self.clients}) != len(self.clients):
            raise ValueError("clients: duplicate client_id")
        return self

    @property
    def issuer(self) -> str:
        """RFC 8414 issuer: the base URL, exactly, without a trailing slash."""
        return self.server.base_url

    @property
    def resource_url(self) -> str:
        """RFC 8707 / RFC 9728 canonical MCP resource URL: the audience of every access token."""
        return self.server.base_url + self.server.mcp_path

    @property
    def effective_default_scopes(self) -> tuple[str, ...]:
        return self.default_scopes or tuple(self.scopes)


def _format_error(err: ValidationError) -> str:
    first = err.errors()[0]
    key = ".".join(str(p) for p in first["loc"]) or "(top level)"
    message = str(first["msg"]).removeprefix("Value error, ")
    more = f" (and {err.error_count() - 1} more problem(s))" if err.error_count() > 1 else ""
    return f"configuration key {key}: {message}{more}"


def load_settings(path: Path | None = None, *, overrides: dict[str, Any] | None = None) -> Settings:
    """Read the TOML file (if any), apply environment overrides, validate.

    Raises:
        ConfigError: with one message naming the first offending key.
    """
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"configuration file {path} does not exist") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"configuration file {path} is not valid TOML: {exc}") from exc
    data.update(overrides or {})
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise ConfigError(_format_error(exc)) from None


def environment_has_overrides() -> bool:
    """Whether any ``DEPUTY_*`` variable is set; the CLI mentions it when a config error occurs."""
    return any(name.startswith("DEPUTY_") for name in os.environ)
