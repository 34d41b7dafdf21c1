"""Tools that call a downstream service trusting Deputy, with a token exchanged for each call (RFC 8693).

A catalogue tool with ``downstream = "NAME"`` is sent to ``[downstream.NAME] api_base_url`` instead of the upstream
API. Its credential is minted per call by the same exchange path as ``/token`` (``exchange_for_downstream``): bound
to that service's audience, narrowed to the tool's scope, short-lived, with ``act`` naming the MCP client. The
caller's own Deputy token is never forwarded, and the upstream credential never leaves the broker.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from deputy.broker.downstream import exchange_for_downstream
from deputy.broker.exchange import ExchangedToken
from deputy.errors import ConfigError, OAuthError
from deputy.resource.catalogue import Catalogue
from deputy.resource.upstream_api import CallGrant, DownstreamTarget, ToolCallError
from deputy.service.context import ServiceContext

__all__ = ["downstream_targets"]


def downstream_targets(
    ctx: ServiceContext, catalogue: Catalogue, run: Callable[..., Awaitable[Any]]
) -> dict[str, DownstreamTarget]:
    """A target per service the catalogue uses.

    Raises:
        ConfigError: a tool names a service that is not configured or has no ``api_base_url``.
    """
    services = ctx.settings.downstream
    targets: dict[str, DownstreamTarget] = {}
    for tool in catalogue.tools:
        name = tool.downstream
        if name is None or name in targets:
            continue
        service = services.get(name)
        if service is None or not service.api_base_url:
            raise ConfigError(
                f"tools.{tool.name}.downstream: {name!r} is not a [downstream.{name}] service with an api_base_url"
            )
        targets[name] = DownstreamTarget(service.api_base_url, _minter(ctx, name, run))
    return targets


def _minter(
    ctx: ServiceContext, name: str, run: Callable[..., Awaitable[Any]]
) -> Callable[[CallGrant, str | None], Awaitable[str]]:
    async def mint(grant: CallGrant, scope: str | None) -> str:
        try:
            token: ExchangedToken = await run(exchange_for_downstream, ctx, grant, name, scope)
        except OAuthError as exc:  # audited as token.exchange_refused by the exchange itself
            raise ToolCallError("rejected", f"Deputy may not call {name} for this client: {exc.description}") from None
        return token.access_token

    return mint
