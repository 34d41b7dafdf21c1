"""Settings: a TOML file plus ``DEPUTY_*`` environment overrides. The only module that reads the environment.

Environment variables override the file, nested with ``__``: ``DEPUTY_SERVER__BASE_URL=https://mcp.example.com``,
``DEPUTY_UPSTREAM__CLIENT_SECRET=…``. Every key is documented in ``docs/configuration.md``. A bad value stops
start-up with one message naming the key (``load_settings`` turns pydantic's report into a ``ConfigError``).

The upstream group is deliberately flat: a provider preset is just a named dict of defaults for these same keys,
merged under whatever the operator wrote.
"""

from __future__ import annotations

import ipaddress
import os
import re
import ssl
import tomllib
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from deputy.errors import ConfigError
from deputy.oauth.resource import canonical_resource
from deputy.upstream.presets import PresetName, apply_preset, check_forward_resource

__all__ = [
    "ClientMetadataSettings",
    "ClientSettings",
    "ConsentSettings",
    "DownstreamSettings",
    "IntentSettings",
    "IntentThreshold",
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
    metrics_token: SecretStr | None = None
    shutdown_grace_seconds: int = Field(default=20, ge=1, le=3600)

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

    @field_validator("metrics_token")
    @classmethod
    def _metrics_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError("server.metrics_token must be at least 16 characters (use a random value)")
        return value


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
    """Key ring location. A missing ring is created only when ``create_if_missing`` is set (the demo does).

    ``inline`` carries the ring's JSON itself (``DEPUTY_KEYS__INLINE``, for platforms that inject secrets as
    environment variables); it wins over ``file``. An inline ring cannot be rotated in place: rotate a file copy
    with ``deputy keys rotate`` and redeploy the new value.
    """

    file: Path = Path("deputy-data/keys.json")
    inline: SecretStr | None = None
    create_if_missing: bool = False
    reload_interval_seconds: float = Field(default=2.0, gt=0, le=3600)
    reencrypt_interval_seconds: float = Field(default=30.0, gt=0, le=86400)


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
    """The third-party OAuth provider Deputy is a client of, through one static client_id.

    A ``preset`` (``deputy.upstream.presets``) fills in every key the operator left out, before validation, so
    the rest of Deputy sees complete settings whether or not a preset was used.
    """

    name: str = "the upstream service"
    preset: PresetName | None = None
    tenant: str | None = None
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
    scope_separator: Literal[" ", ","] = " "
    pkce: bool = True
    forward_resource: bool = False
    user_id_from: Literal["userinfo", "token_response"] = "userinfo"
    user_id_claim: str = "sub"
    user_name_claim: str = "name"
    extra_authorize_params: dict[str, str] = Field(default_factory=dict)
    api_headers: dict[str, str] = Field(default_factory=dict)  # fixed headers on every API call (API versions)
    timeout_seconds: float = Field(default=10.0, gt=0, le=120)

    @field_validator("api_headers")
    @classmethod
    def _api_headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name, header in value.items():
            if not re.fullmatch(r"[A-Za-z0-9-]{1,64}", name) or any(not c.isprintable() for c in header):
                raise ValueError(f"api_headers: {name!r} is not a usable header")
            if name.lower() in ("authorization", "cookie", "host", "content-length", "proxy-authorization"):
                raise ValueError(f"api_headers: {name} is set by Deputy itself")
        return value

    @model_validator(mode="before")
    @classmethod
    def _preset(cls, data: Any) -> Any:
        return apply_preset(data) if isinstance(data, dict) else data

    @model_validator(mode="after")
    def _endpoints(self) -> UpstreamSettings:
        if not self.client_id:
            raise ValueError("upstream.client_id is required")
        check_forward_resource(self.preset, self.forward_resource)
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


class DownstreamSettings(_Group):
    """A service behind Deputy that accepts Deputy-minted tokens obtained by RFC 8693 token exchange.

    ``audience`` is the ``aud`` of every token minted for it (an absolute URI or a logical name); ``resources`` are
    further URIs (RFC 8707) that name the same service in an exchange request. ``scopes`` is the service's policy:
    the Deputy scopes it may ever receive. ``clients``, when set, lists the only client_ids that may exchange for
    it (an empty list disables exchange for the service).
    """

    audience: str = Field(min_length=1, max_length=512)
    resources: tuple[str, ...] = ()
    scopes: tuple[str, ...] = Field(min_length=1)
    token_lifetime_seconds: int = Field(default=60, ge=5, le=600)
    clients: tuple[str, ...] | None = None
    api_base_url: str | None = None  # where catalogue tools with ``downstream = "NAME"`` send their calls

    @field_validator("api_base_url")
    @classmethod
    def _api_base_url(cls, value: str | None) -> str | None:
        return None if value is None else _check_base_url(value, "api_base_url")

    @field_validator("audience")
    @classmethod
    def _audience(cls, value: str) -> str:
        if any(c.isspace() or not c.isprintable() for c in value):
            raise ValueError("audience must not contain whitespace or control characters")
        if "://" in value:
            _check_resource_uri(value, "audience")
        return value

    @field_validator("resources")
    @classmethod
    def _resources(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            _check_resource_uri(item, "resources")
        return value


def _check_resource_uri(value: str, key: str) -> None:
    """RFC 8707 §2: an absolute URI without a fragment; https, or http on loopback."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{key} must be an absolute http(s) URI or a logical name")
    if parts.fragment or "#" in value or parts.username or parts.password:
        raise ValueError(f"{key} must not carry a fragment or userinfo")
    if parts.scheme == "http" and not _is_loopback_host(parts.hostname):
        raise ValueError(f"{key} must use https (plain http is allowed only on loopback)")


_DOMAIN = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?")


class ClientMetadataSettings(_Group):
    """Client ID Metadata Documents: an https ``client_id`` is fetched from the client's own URL (docs/cimd.md).

    ``allow_loopback_fetch`` exists only so that tests can serve documents from a loopback server; it admits
    127.0.0.0/8 and ``::1`` and nothing else. ``ca_file`` replaces the system's trust store for these fetches.
    """

    enabled: bool = True
    allow_domains: tuple[str, ...] = ()
    deny_domains: tuple[str, ...] = ()
    allow_loopback_fetch: bool = False
    max_bytes: int = Field(default=5120, ge=512, le=64 * 1024)
    timeout_seconds: float = Field(default=10.0, gt=0, le=30)
    max_cache_seconds: int = Field(default=7 * 86400, ge=0, le=7 * 86400)
    ca_file: Path | None = None

    @field_validator("allow_domains", "deny_domains")
    @classmethod
    def _domains(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            if len(item) > 253 or not _DOMAIN.fullmatch(item):
                raise ValueError(f"{item[:64]!r} is not a lower-case domain name such as example.com")
        return value

    @field_validator("ca_file")
    @classmethod
    def _ca_file(cls, value: Path | None) -> Path | None:
        if value is None:
            return None
        try:
            ssl.create_default_context(cafile=str(value))
        except (OSError, ssl.SSLError):
            raise ValueError("client_metadata.ca_file must be a readable PEM file of certificates") from None
        return value


class IntentThreshold(_Group):
    """Confirmation only when the top-level numeric argument ``field`` is above ``above``; a call without the
    argument needs none, and a value that is not a number always needs it."""

    field: str = Field(min_length=1, max_length=200)
    above: float


class IntentSettings(_Group):
    """Draft-then-commit for write tools (docs/intents.md). ``require_confirmation`` lists the tools that need the
    user's confirmation (unset: every write tool); ``thresholds`` narrows a listed tool to calls above a value;
    ``trusted_clients`` maps a pre-registered client_id to the tools it may run without confirmation. Names are
    checked against the tool catalogue and the ``clients`` list at start-up."""

    enabled: bool = True
    require_confirmation: tuple[str, ...] | None = None
    thresholds: dict[str, IntentThreshold] = Field(default_factory=dict)
    trusted_clients: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    draft_ttl_seconds: int = Field(default=600, ge=30, le=86400)
    commit_ttl_seconds: int = Field(default=300, ge=10, le=3600)


class ConsentSettings(_Group):
    """When Deputy's consent page may be skipped (docs/consent.md). ``always`` (the default) shows it for every
    authorization. ``remember`` lets an approval made on the page stand for ``remember_days``, for the same signed-in
    user, the exact (client, redirect URI, scopes) and a navigation that did not come from another site."""

    prompt: Literal["always", "remember"] = "always"
    remember_days: int = Field(default=30, ge=1, le=365)


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
    downstream: dict[str, DownstreamSettings] = Field(default_factory=dict)
    client_metadata: ClientMetadataSettings = ClientMetadataSettings()
    intents: IntentSettings = IntentSettings()
    consent: ConsentSettings = ConsentSettings()

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

    @model_validator(mode="after")
    def _downstream_consistent(self) -> Settings:
        """Each service needs known scopes and identifiers of its own. An identifier equal to Deputy's own resource
        or issuer would make exchanged tokens acceptable at the MCP endpoint, so it is refused outright."""
        seen = {canonical_resource(self.resource_url): "Deputy's MCP resource"}
        seen[canonical_resource(self.issuer)] = "Deputy's issuer"
        for name, svc in self.downstream.items():
            if not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", name):
                raise ValueError(f"downstream.{name[:64]}: service names use letters, digits, '.', '_' and '-'")
            unknown = set(svc.scopes) - set(self.scopes)
            if unknown:
                raise ValueError(f"downstream.{name}.scopes names unknown scopes: {sorted(unknown)}")
            for ident in dict.fromkeys((svc.audience, *svc.resources)):
                key = canonical_resource(ident)
                if key in seen:
                    raise ValueError(f"downstream.{name}: {ident!r} already identifies {seen[key]}")
                seen[key] = f"downstream.{name}"
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
