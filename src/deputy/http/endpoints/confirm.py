"""GET and POST /confirm/{draft_id}: the user sees one drafted write operation and approves or rejects it.

Only the draft's own user, in a browser holding their Deputy session (``__Host-deputy-session``, set when they
signed in through Deputy), gets the page. The form is protected exactly like the consent form: a signed
double-submit CSRF token bound to ``__Host-deputy-csrf``, and the Origin and Fetch Metadata checks of
``authorize._check_same_origin``. Both responses carry the page headers (CSP without script, no framing,
no-store, no referrer).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from deputy.errors import BrowserFlowError, InvalidRequestError
from deputy.http import cookies
from deputy.http.deps import Deps, deps_of
from deputy.http.endpoints.authorize import _check_same_origin as check_same_origin
from deputy.http.forms import read_form
from deputy.http.render import page_error, render_page
from deputy.intents import service
from deputy.oauth.tokens import new_secret
from deputy.resource.catalogue import ToolSpec

__all__ = ["confirm", "show"]

_ACTIONS = {"approve": True, "reject": False}


def _spec(request: Request, tool: str) -> ToolSpec | None:
    mcp = getattr(request.app.state, "mcp", None)
    spec = mcp.catalogue.get(tool) if mcp is not None else None
    return spec if isinstance(spec, ToolSpec) else None


def _target_name(deps: Deps, spec: ToolSpec | None) -> str:
    """Whose system the operation changes: the upstream, or the downstream service the tool names."""
    if spec is not None and spec.downstream is not None:
        return spec.downstream
    return deps.ctx.upstream_name


async def show(request: Request) -> Response:
    deps = deps_of(request)
    name = deps.ctx.upstream_name
    csrf_cookie = cookies.read_cookie(request, cookies.CSRF)
    fresh_cookie = csrf_cookie is None
    csrf_cookie = csrf_cookie or new_secret()
    try:
        view = await deps.run(
            service.open_confirmation,
            deps.ctx,
            request.path_params["draft_id"],
            session_cookie=cookies.read_cookie(request, cookies.SESSION),
            csrf_cookie=csrf_cookie,
        )
    except BrowserFlowError as exc:
        return page_error(exc, name)
    spec = _spec(request, view.draft.tool)
    response = render_page("confirm.html", view=view, spec=spec, upstream_name=_target_name(deps, spec))
    if fresh_cookie:
        cookies.set_cookie(response, cookies.CSRF, csrf_cookie, max_age=None)
    return response


async def confirm(request: Request) -> Response:
    deps = deps_of(request)
    name = deps.ctx.upstream_name
    try:
        check_same_origin(request, deps.ctx.issuer)
        try:
            form = await read_form(request)
        except InvalidRequestError as exc:
            raise BrowserFlowError("Invalid request", "The confirmation form was malformed.") from exc
        csrf_cookie = cookies.read_cookie(request, cookies.CSRF)
        token, action = form.get("csrf_token"), form.get("action", "")
        if not (csrf_cookie and token) or action not in _ACTIONS:
            raise service.page_problem("stale")
        draft = await deps.run(
            service.decide,
            deps.ctx,
            request.path_params["draft_id"],
            approve=_ACTIONS[action],
            csrf_token=token,
            csrf_cookie=csrf_cookie,
            session_cookie=cookies.read_cookie(request, cookies.SESSION),
        )
    except BrowserFlowError as exc:
        return page_error(exc, name)
    spec = _spec(request, draft.tool)
    return render_page("confirm_done.html", draft=draft, spec=spec, upstream_name=_target_name(deps, spec))
