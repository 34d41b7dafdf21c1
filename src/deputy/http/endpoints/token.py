"""POST /token: parse, authenticate the client, dispatch on grant_type, render with ``no-store``.

Every parameter is single-valued (RFC 6749 §3.2) except ``audience`` and ``resource`` in a token-exchange request,
which RFC 8693 §2.1 lets repeat.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from deputy.broker.downstream import exchange_token
from deputy.broker.exchange import GRANT_TYPE as TOKEN_EXCHANGE
from deputy.broker.exchange import parse_exchange_request, split_targets
from deputy.errors import InvalidRequestError, OAuthError, UnsupportedGrantTypeError
from deputy.http.deps import Deps, deps_of
from deputy.http.forms import client_credentials, read_pairs, single_values
from deputy.http.render import json_error, ok_json
from deputy.service import token as grants

__all__ = ["token"]


async def token(request: Request) -> Response:
    deps = deps_of(request)
    try:
        pairs = await read_pairs(request)
        if ("grant_type", TOKEN_EXCHANGE) in pairs:
            return await _exchange(request, deps, pairs)
        form = single_values(pairs)
        creds = await grants.with_client_document(deps.ctx, client_credentials(request, form))
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            if not form.get("code"):
                raise InvalidRequestError("code is required")
            issued = await deps.run(
                grants.redeem_code,
                deps.ctx,
                creds,
                code=form["code"],
                redirect_uri=form.get("redirect_uri"),
                code_verifier=form.get("code_verifier"),
                resource=form.get("resource"),
            )
        elif grant_type == "refresh_token":
            if not form.get("refresh_token"):
                raise InvalidRequestError("refresh_token is required")
            issued = await deps.run(
                grants.refresh,
                deps.ctx,
                creds,
                refresh_token=form["refresh_token"],
                scope=form.get("scope"),
                resource=form.get("resource"),
            )
        elif grant_type is None:
            raise InvalidRequestError("grant_type is required")
        else:
            raise UnsupportedGrantTypeError("grant_type is not supported")
    except OAuthError as exc:
        return json_error(exc)
    return ok_json(issued.to_json())


async def _exchange(request: Request, deps: Deps, pairs: list[tuple[str, str]]) -> Response:
    """RFC 8693 token exchange; the response is §2.2.1's, with ``issued_token_type`` and no refresh token."""
    rest, audiences, resources = split_targets(pairs)
    form = single_values(rest)
    exchange = parse_exchange_request(form, audiences, resources)
    creds = await grants.with_client_document(deps.ctx, client_credentials(request, form))
    issued = await deps.run(exchange_token, deps.ctx, creds, exchange)
    return ok_json(issued.to_json())
