"""GET /callback: the upstream's answer. State consumed once, same browser required, then Deputy's own code."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import Response

from deputy.errors import BrowserFlowError, InvalidRequestError, ServerError
from deputy.http import cookies
from deputy.http.deps import Deps, deps_of
from deputy.http.forms import single_values
from deputy.http.render import page_error, redirect
from deputy.oauth.models import Flow
from deputy.service import authorization as flows
from deputy.upstream.client import UpstreamError

__all__ = ["callback"]

log = logging.getLogger("deputy.http")


async def callback(request: Request) -> Response:
    deps = deps_of(request)
    try:
        try:
            params = single_values(request.query_params.multi_items())
        except InvalidRequestError as exc:
            raise BrowserFlowError("Sign-in failed", "The sign-in response is malformed.") from exc
        upstream = await deps.upstream()
        flow, verifier = await deps.run(
            flows.consume_callback,
            deps.ctx,
            state=params.get("state"),
            binding_cookie=cookies.read_cookie(request, cookies.BINDING),
            iss=params.get("iss"),
            expected_iss=upstream.endpoints.issuer,
        )
    except BrowserFlowError as exc:
        response: Response = page_error(exc, deps.ctx.upstream_name)
        cookies.clear_cookie(response, cookies.BINDING)
        return response
    except UpstreamError:
        return page_error(
            BrowserFlowError("Service unavailable", "Try again later.", status=503), deps.ctx.upstream_name
        )
    response = await _finish(deps, request, flow, verifier, params)
    cookies.clear_cookie(response, cookies.BINDING)
    return response


async def _finish(deps: Deps, request: Request, flow: Flow, verifier: str | None, params: dict[str, str]) -> Response:
    if "error" in params or not params.get("code"):
        failure = flows.upstream_failure(params.get("error", "server_error"), unavailable=False)
        return redirect(await deps.run(flows.fail_callback, deps.ctx, flow, failure, reason="upstream-error"))
    upstream = await deps.upstream()
    try:
        tokens = await upstream.exchange_code(params["code"], code_verifier=verifier)
        identity = await upstream.identify(tokens)
    except UpstreamError as exc:
        failure = flows.upstream_failure(exc.error, exc.unavailable)
        return redirect(await deps.run(flows.fail_callback, deps.ctx, flow, failure, reason=str(exc)[:200]))
    except Exception:  # anything else the upstream exchange raised: the flow still ends, and the client is told
        log.exception("upstream exchange failed unexpectedly")
        failure = ServerError("the upstream sign-in could not be completed")
        return redirect(await deps.run(flows.fail_callback, deps.ctx, flow, failure, reason="upstream-unexpected"))
    user = await deps.run(flows.session_user, deps.ctx, cookies.read_cookie(request, cookies.SESSION))
    try:
        done = await deps.run(
            flows.complete_callback, deps.ctx, flow, identity, tokens, session_user_id=user.user_id if user else None
        )
    except Exception:
        await deps.run(
            flows.fail_callback, deps.ctx, flow, ServerError("sign-in could not be completed"), reason="complete-failed"
        )
        raise
    response = redirect(done.redirect_url)
    if done.session_token:
        cookies.set_cookie(
            response, cookies.SESSION, done.session_token, max_age=deps.ctx.settings.lifetimes.browser_session
        )
    return response
