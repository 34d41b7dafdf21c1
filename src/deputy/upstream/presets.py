"""Provider presets: a named set of defaults for the ``[upstream]`` keys, plus the quirks that need code.

A preset is data. ``apply_preset`` merges it *under* what the operator wrote (an explicit key always wins; tables
such as ``extra_authorize_params`` merge key by key), so the rest of Deputy only ever sees complete settings. What
plain settings cannot express (a JSON token request, a 200 response that is really an error, a user id that needs
a GraphQL query) is a ``Quirks`` record of small named strategies that ``deputy.upstream.client`` dispatches on;
without a preset every strategy has its RFC 6749 default.

Each preset cites the provider documentation its values come from; ``docs/providers/NAME.md`` explains the setup.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final, Literal
from urllib.parse import urlsplit

__all__ = [
    "PRESETS",
    "PRESET_NAMES",
    "Preset",
    "PresetName",
    "Quirks",
    "RefreshTokens",
    "apply_preset",
    "check_forward_resource",
    "quirks_for",
]

PresetName = Literal["github", "google", "microsoft", "notion", "linear", "slack", "atlassian", "oidc"]
TokenFormat = Literal["form", "json"]
TokenResponse = Literal["oauth2", "github", "slack", "notion"]
RefreshTokens = Literal["none", "reusable", "rotating", "rotating_if_enabled"]

_TENANT: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]{0,99}")  # a GUID, a domain, common/organizations/consumers


def _frozen(data: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    return MappingProxyType(dict(data or {}))


@dataclass(frozen=True)
class Quirks:
    """How one provider departs from RFC 6749 in ways only code can handle. The defaults are plain RFC 6749.

    ``token_format``: body of token requests (``json`` for Notion and Atlassian).
    ``token_response``: how to read the token endpoint's answer (``github``: errors arrive with HTTP 200 and the
    body is form-encoded unless JSON was asked for; ``slack``: ``{"ok": false, "error": …}`` with HTTP 200 and the
    user token nested under ``authed_user``; ``notion``: the error code is in ``code``).
    ``scope_param``: the authorize parameter carrying the upstream scopes (Slack's user scopes go in ``user_scope``).
    ``identity_query``: a GraphQL query POSTed to the userinfo URL instead of a GET (Linear).
    ``identity_headers``: extra headers for the identity request (GitHub's API version).
    ``error_codes``: provider error codes translated to RFC 6749 ones; ``unavailable_codes`` mean "try later".
    ``discovery_issuer_must_match``: the discovery document must name the configured issuer (OIDC Discovery §4.3).
    """

    token_format: TokenFormat = "form"
    token_response: TokenResponse = "oauth2"
    scope_param: str = "scope"
    identity_query: str | None = None
    identity_headers: Mapping[str, str] = field(default_factory=_frozen)
    error_codes: Mapping[str, str] = field(default_factory=_frozen)
    unavailable_codes: frozenset[str] = frozenset()
    discovery_issuer_must_match: bool = False


DEFAULT_QUIRKS: Final = Quirks()


@dataclass(frozen=True)
class Preset:
    """One provider: defaults for ``[upstream]`` keys, what the operator must add, and documented behaviour.

    ``defaults`` may contain ``{tenant}`` or ``{issuer}``, filled from the operator's completion keys.
    ``refresh_tokens`` records what the provider documents: ``none`` (no refresh tokens), ``reusable`` (the same
    refresh token keeps working), ``rotating`` (each refresh returns a new one), ``rotating_if_enabled`` (a setting
    in the provider's console decides). Deputy's broker stores a returned refresh token and keeps the old one
    otherwise, so every kind works without configuration.
    ``omit_resource``: the provider rejects or mishandles RFC 8707 ``resource`` (which would name Deputy, not the
    provider), so ``forward_resource = true`` is a configuration error.
    """

    name: PresetName
    title: str
    docs: tuple[str, ...]
    defaults: Mapping[str, Any]
    required: tuple[str, ...] = ("client_id", "client_secret")
    refresh_tokens: RefreshTokens = "reusable"
    omit_resource: bool = True
    quirks: Quirks = DEFAULT_QUIRKS


GITHUB: Final = Preset(
    name="github",
    title="GitHub",
    docs=(
        "https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps",
        "https://docs.github.com/en/apps/oauth-apps/maintaining-oauth-apps/troubleshooting-oauth-app-access-token-request-errors",
        "https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/refreshing-user-access-tokens",
        "https://docs.github.com/en/rest/users/users#get-the-authenticated-user",
        "https://github.blog/changelog/2025-07-14-pkce-support-for-oauth-and-github-app-authentication",
    ),
    defaults=_frozen(
        {
            "name": "GitHub",
            "authorize_url": "https://github.com/login/oauth/authorize",
            "token_url": "https://github.com/login/oauth/access_token",
            "userinfo_url": "https://api.github.com/user",
            "api_base_url": "https://api.github.com",
            "token_auth_method": "client_secret_post",
            "scopes": (),
            "pkce": True,  # S256 only, since July 2025
            "user_id_from": "userinfo",
            "user_id_claim": "id",  # an integer; Deputy stores it as a string
            "user_name_claim": "login",
            "api_headers": {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"},
        }
    ),
    refresh_tokens="rotating_if_enabled",  # GitHub App user tokens with expiration on; OAuth Apps have none
    quirks=Quirks(
        token_response="github",
        identity_headers=_frozen({"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}),
        error_codes=_frozen(
            {
                "bad_verification_code": "invalid_grant",
                "bad_refresh_token": "invalid_grant",
                "redirect_uri_mismatch": "invalid_grant",
                "incorrect_client_credentials": "invalid_client",
                "unverified_user_email": "invalid_grant",
            }
        ),
    ),
)

GOOGLE: Final = Preset(
    name="google",
    title="Google",
    docs=(
        "https://developers.google.com/identity/protocols/oauth2/web-server",
        "https://developers.google.com/identity/openid-connect/openid-connect",
        "https://developers.google.com/identity/openid-connect/reference",
    ),
    defaults=_frozen(
        {
            "name": "Google",
            "issuer": "https://accounts.google.com",  # Google sends RFC 9207 iss on the callback
            "authorize_url": "https://accounts.google.com/o/oauth2/v2/auth",
            "token_url": "https://oauth2.googleapis.com/token",
            "userinfo_url": "https://openidconnect.googleapis.com/v1/userinfo",
            "revocation_url": "https://oauth2.googleapis.com/revoke",
            "api_base_url": "https://www.googleapis.com",
            "token_auth_method": "client_secret_post",
            "scopes": ("openid", "email", "profile"),
            "pkce": True,
            "user_id_from": "userinfo",
            "user_id_claim": "sub",
            "user_name_claim": "name",
            # Without both, Google returns a refresh token only on a user's very first consent.
            "extra_authorize_params": {"access_type": "offline", "prompt": "consent"},
        }
    ),
    refresh_tokens="reusable",
)

MICROSOFT: Final = Preset(
    name="microsoft",
    title="Microsoft Entra ID / Microsoft account",
    docs=(
        "https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-auth-code-flow",
        "https://learn.microsoft.com/en-us/entra/identity-platform/reference-error-codes",
        "https://learn.microsoft.com/en-us/graph/api/user-get",
    ),
    defaults=_frozen(
        {
            "name": "Microsoft",
            "authorize_url": "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/authorize",
            "token_url": "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token",
            "userinfo_url": "https://graph.microsoft.com/v1.0/me",
            "api_base_url": "https://graph.microsoft.com/v1.0",
            "token_auth_method": "client_secret_post",
            "scopes": ("openid", "profile", "offline_access", "User.Read"),
            "pkce": True,
            "user_id_from": "userinfo",
            "user_id_claim": "id",  # Graph's id of the user: the same value as the id token's oid
            "user_name_claim": "displayName",
        }
    ),
    required=("client_id", "client_secret", "tenant"),
    refresh_tokens="rotating",  # a new refresh token on every use; the old one is not revoked
)

NOTION: Final = Preset(
    name="notion",
    title="Notion",
    docs=(
        "https://developers.notion.com/docs/authorization",
        "https://developers.notion.com/reference/create-a-token",
        "https://developers.notion.com/reference/refresh-a-token",
        "https://developers.notion.com/reference/status-codes",
    ),
    defaults=_frozen(
        {
            "name": "Notion",
            "authorize_url": "https://api.notion.com/v1/oauth/authorize",
            "token_url": "https://api.notion.com/v1/oauth/token",
            "api_base_url": "https://api.notion.com/v1",
            "token_auth_method": "client_secret_basic",  # required: HTTP Basic with a JSON body
            "scopes": (),  # Notion has no scopes: the user picks pages while authorizing
            "pkce": False,
            "user_id_from": "token_response",
            "user_id_claim": "owner.user.id",
            "user_name_claim": "owner.user.name",
            "extra_authorize_params": {"owner": "user"},
            "api_headers": {"Notion-Version": "2022-06-28"},
        }
    ),
    refresh_tokens="rotating",
    quirks=Quirks(token_format="json", token_response="notion"),
)

LINEAR: Final = Preset(
    name="linear",
    title="Linear",
    docs=(
        "https://linear.app/developers/oauth-2-0-authentication",
        "https://linear.app/developers/graphql",
    ),
    defaults=_frozen(
        {
            "name": "Linear",
            "authorize_url": "https://linear.app/oauth/authorize",
            "token_url": "https://api.linear.app/oauth/token",
            "userinfo_url": "https://api.linear.app/graphql",
            "api_base_url": "https://api.linear.app",
            "token_auth_method": "client_secret_post",
            "scopes": ("read",),
            "scope_separator": ",",
            "pkce": True,
            "user_id_from": "userinfo",
            "user_id_claim": "data.viewer.id",
            "user_name_claim": "data.viewer.name",
        }
    ),
    refresh_tokens="rotating",  # 24-hour access tokens; every application since April 2026
    quirks=Quirks(identity_query="query { viewer { id name } }"),
)

SLACK: Final = Preset(
    name="slack",
    title="Slack",
    docs=(
        "https://docs.slack.dev/authentication/installing-with-oauth",
        "https://docs.slack.dev/reference/methods/oauth.v2.access",
        "https://docs.slack.dev/authentication/using-token-rotation",
    ),
    defaults=_frozen(
        {
            "name": "Slack",
            "authorize_url": "https://slack.com/oauth/v2/authorize",
            "token_url": "https://slack.com/api/oauth.v2.access",
            "api_base_url": "https://slack.com/api",
            "token_auth_method": "client_secret_basic",  # Slack prefers Basic over body parameters
            "scopes": (),
            "scope_separator": ",",
            "pkce": True,
            "user_id_from": "token_response",
            "user_id_claim": "authed_user.id",
            "user_name_claim": "authed_user.id",
        }
    ),
    refresh_tokens="rotating_if_enabled",  # token rotation is an app setting; when on, each refresh revokes the old
    quirks=Quirks(
        token_response="slack",
        scope_param="user_scope",  # Deputy acts for the user: user token scopes, not bot scopes
        error_codes=_frozen(
            {
                "invalid_code": "invalid_grant",
                "code_already_used": "invalid_grant",
                "invalid_refresh_token": "invalid_grant",
                "bad_redirect_uri": "invalid_grant",
                "invalid_client_id": "invalid_client",
                "bad_client_secret": "invalid_client",
                "invalid_grant_type": "unsupported_grant_type",
                "oauth_authorization_url_mismatch": "invalid_request",
            }
        ),
        unavailable_codes=frozenset(
            {"internal_error", "fatal_error", "service_unavailable", "request_timeout", "ratelimited"}
        ),
    ),
)

ATLASSIAN: Final = Preset(
    name="atlassian",
    title="Atlassian (Jira, Confluence)",
    docs=(
        "https://developer.atlassian.com/cloud/jira/platform/oauth-2-3lo-apps/",
        "https://developer.atlassian.com/cloud/oauth/getting-started/refresh-tokens",
    ),
    defaults=_frozen(
        {
            "name": "Atlassian",
            "authorize_url": "https://auth.atlassian.com/authorize",
            "token_url": "https://auth.atlassian.com/oauth/token",
            "userinfo_url": "https://api.atlassian.com/me",
            "api_base_url": "https://api.atlassian.com",
            "token_auth_method": "client_secret_post",  # client_id and client_secret inside the JSON body
            "scopes": ("read:me", "offline_access"),
            "pkce": False,  # not documented for 3LO
            "user_id_from": "userinfo",
            "user_id_claim": "account_id",
            "user_name_claim": "name",
            "extra_authorize_params": {"audience": "api.atlassian.com", "prompt": "consent"},
        }
    ),
    refresh_tokens="rotating",
    quirks=Quirks(token_format="json"),
)

OIDC: Final = Preset(
    name="oidc",
    title="Any OpenID Connect provider",
    docs=(
        "https://openid.net/specs/openid-connect-discovery-1_0.html",
        "https://openid.net/specs/openid-connect-core-1_0.html#UserInfo",
    ),
    defaults=_frozen(
        {
            "discovery_url": "{issuer}/.well-known/openid-configuration",
            "token_auth_method": "client_secret_basic",  # the OIDC default when metadata names none
            "scopes": ("openid", "profile", "email"),
            "pkce": True,
            "user_id_from": "userinfo",
            "user_id_claim": "sub",
            "user_name_claim": "name",
        }
    ),
    required=("client_id", "client_secret", "issuer"),
    refresh_tokens="reusable",
    omit_resource=False,  # RFC 8707 support varies; forward_resource stays the operator's choice
    quirks=Quirks(discovery_issuer_must_match=True),
)

PRESETS: Final[Mapping[str, Preset]] = MappingProxyType(
    {p.name: p for p in (GITHUB, GOOGLE, MICROSOFT, NOTION, LINEAR, SLACK, ATLASSIAN, OIDC)}
)
PRESET_NAMES: Final = tuple(PRESETS)


def quirks_for(preset: str | None) -> Quirks:
    """The strategies for a preset name; the RFC 6749 defaults without one."""
    found = PRESETS.get(preset) if preset else None
    return found.quirks if found else DEFAULT_QUIRKS


def apply_preset(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The operator's ``[upstream]`` table with the named preset's defaults merged under it.

    Values the operator wrote win; ``extra_authorize_params`` merges key by key. An unknown preset name is left
    for the settings model to reject, so the message names ``upstream.preset``.

    Raises:
        ValueError: a key the preset needs from the operator is missing or malformed; the message names it.
    """
    preset = PRESETS.get(raw["preset"]) if isinstance(raw.get("preset"), str) else None
    if preset is None:
        return dict(raw)
    _check_completion(preset, raw)
    fill = {"tenant": raw.get("tenant"), "issuer": str(raw.get("issuer", "")).rstrip("/")}
    merged = {key: _filled(value, fill) for key, value in preset.defaults.items()}
    merged.update(raw)
    ours, theirs = preset.defaults.get("extra_authorize_params"), raw.get("extra_authorize_params")
    if isinstance(ours, Mapping) and (theirs is None or isinstance(theirs, Mapping)):
        merged["extra_authorize_params"] = {**ours, **(theirs or {})}
    return merged


def check_forward_resource(preset: str | None, forward_resource: bool) -> None:
    """Raises:
    ValueError: ``forward_resource`` is on for a provider that rejects RFC 8707 ``resource``.
    """
    found = PRESETS.get(preset) if preset else None
    if found is not None and found.omit_resource and forward_resource:
        raise ValueError(f"upstream.forward_resource must stay false: {found.title} rejects the resource parameter")


def _filled(value: Any, fill: Mapping[str, Any]) -> Any:
    return value.format_map(fill) if isinstance(value, str) and "{" in value else value


def _check_completion(preset: Preset, raw: Mapping[str, Any]) -> None:
    for key in preset.required:
        if not raw.get(key):
            raise ValueError(f"upstream.{key} is required by the {preset.name} preset")
    if "tenant" in preset.required and not _TENANT.fullmatch(str(raw["tenant"])):
        raise ValueError("upstream.tenant must be a tenant id, a domain, or common/organizations/consumers")
    if "issuer" in preset.required:
        _check_issuer(str(raw["issuer"]))


def _check_issuer(issuer: str) -> None:
    parts = urlsplit(issuer)
    loopback = parts.hostname in ("localhost", "127.0.0.1", "::1")
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        raise ValueError("upstream.issuer must be an https URL (plain http only on loopback)")
    if not parts.hostname or parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError("upstream.issuer must be a URL without query, fragment or userinfo")
