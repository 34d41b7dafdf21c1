"""POST /revoke: RFC 7009."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from deputy.errors import InvalidRequestError, OAuthError
from deputy.http.deps import deps_of
from deputy.http.forms import client_credentials, read_form
from deputy.http.render import json_error, ok_json
from deputy.service.revocation import revoke_token
from deputy.service.token import with_client_document

__all__ = ["revoke"]


async def revoke(request: Request) -> Response:
    deps = deps_of(request)
    try:
        form = await read_form(request)
        creds = await with_client_document(deps.ctx, client_credentials(request, form))
        if not form.get("token"):
            raise InvalidRequestError("token is required")
        await deps.run(revoke_token, deps.ctx, creds, token=form["token"], hint=form.get("token_type_hint"))
    except OAuthError as exc:
        return json_error(exc)
    return ok_json({})
