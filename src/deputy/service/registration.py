"""Dynamic client registration (RFC 7591) under Deputy's policy, rate-limited per address."""

from __future__ import annotations

from deputy.audit.log import audit
from deputy.errors import SlowDownError
from deputy.oauth.models import Client, ClientKind
from deputy.oauth.registration import RegistrationPolicy, registration_response, validate_registration_request
from deputy.oauth.tokens import new_client_id, new_client_secret
from deputy.service.context import ServiceContext

__all__ = ["register_client", "registration_policy"]

ADDRESS = "registration-address"
CLIENT_SECRET = "client-secret"
WINDOW = 3600


def registration_policy(ctx: ServiceContext) -> RegistrationPolicy:
    reg = ctx.settings.registration
    return RegistrationPolicy(
        allowed_custom_schemes=frozenset(reg.allowed_custom_schemes),
        max_client_name_length=reg.max_client_name_length,
        max_redirect_uris=reg.max_redirect_uris,
        allowed_scopes=frozenset(ctx.settings.scopes),
        forbidden_origin=ctx.issuer,
    )


def register_client(ctx: ServiceContext, body: object, *, remote_addr: str) -> dict[str, object]:
    """Validate, rate-limit, store (secret as a keyed hash only) and return the RFC 7591 §3.2.1 response.

    Raises:
        OAuthError: invalid_client_metadata, invalid_redirect_uri, or slow_down (429) past the hourly limit.
    """
    now = ctx.clock.now()
    meta = validate_registration_request(body, registration_policy(ctx))
    secret = new_client_secret() if meta.token_endpoint_auth_method != "none" else None
    client = Client(
        client_id=new_client_id(),
        client_name=meta.client_name,
        redirect_uris=meta.redirect_uris,
        token_endpoint_auth_method=meta.token_endpoint_auth_method,
        kind=ClientKind.DYNAMIC,
        created_at=now,
        secret_hash=ctx.keys.keyed_hash(CLIENT_SECRET, secret) if secret else None,
        grant_types=meta.grant_types,
        scope=tuple(meta.scope.split()) if meta.scope else None,
        application_type=meta.application_type,
        client_uri=meta.client_uri,
        expires_at=now + ctx.settings.lifetimes.unused_registration,
    )
    address = ctx.keys.keyed_hash(ADDRESS, remote_addr)
    with ctx.store.write() as tx:
        recent = tx.clients.count_registered_since(address, now - WINDOW)
        if recent >= ctx.settings.registration.rate_limit_per_hour:
            audit(tx.audit, "client.registration_refused", at=now, outcome="refused", reason="rate-limit")
        else:
            tx.clients.save(client, registered_from=address)
            audit(
                tx.audit,
                "client.registered",
                at=now,
                client_id=client.client_id,
                client_name=client.client_name,
                redirect_uris=" ".join(client.redirect_uris),
            )
    if recent >= ctx.settings.registration.rate_limit_per_hour:
        raise SlowDownError("too many registrations from this address; try again later", retry_after=WINDOW)
    return registration_response(client.client_id, secret, now, None, meta)
