"""POST /register: RFC 7591 dynamic client registration."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import Response

from deputy.errors import InvalidClientMetadataError, OAuthError
from deputy.http.deps import deps_of
from deputy.http.render import client_ip, json_error, ok_json
from deputy.service.registration import register_client

__all__ = ["register"]


async def register(request: Request) -> Response:
    deps = deps_of(request)
    settings = deps.ctx.settings.registration
    try:
        if not settings.enabled:
            raise InvalidClientMetadataError("dynamic registration is disabled on this server")
        if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
            raise InvalidClientMetadataError("registration requests must be application/json")
        raw = await request.body()
        if len(raw) > settings.max_body_bytes:
            raise InvalidClientMetadataError("registration request is too large")
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise InvalidClientMetadataError("registration request is not valid JSON") from None
        response = await deps.run(register_client, deps.ctx, body, remote_addr=client_ip(request))
    except OAuthError as exc:
        return json_error(exc)
    return ok_json(response, status=201)
