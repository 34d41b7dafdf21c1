"""POST /token: parse, authenticate the client, dispatch on grant_type, render with ``no-store``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from deputy.errors import InvalidRequestError, OAuthError, UnsupportedGrantTypeError
from deputy.http.deps import deps_of
from deputy.http.forms import client_credentials, read_form
from deputy.http.render import json_error, ok_json
from deputy.service import token as grants

__all__ = ["token"]


async def token(request: Request) -> Response:
    deps = deps_of(request)
    try:
        form = await read_form(request)
        creds = client_credentials(request, form)
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
