"""GET /apps and POST /apps/revoke: the signed-in user's connected applications, and withdrawing one's access.

The user is the one Deputy's browser session (``__Host-deputy-session``) names, never a form field, so a forged
``client_id`` can at most withdraw the user's own access to some other client. A browser without a session gets a
sign-in button instead (``deputy.service.sign_in``). The revoke form is protected like the consent form: a signed
double-submit token bound to ``__Host-deputy-csrf`` (and to the user), and the Origin and Fetch Metadata checks of
``authorize._check_same_origin``. Every response carries the page headers (CSP without script, no framing,
no-store, no referrer).
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from deputy.errors import BrowserFlowError, InvalidRequestError
from deputy.http import cookies
from deputy.http.deps import Deps, deps_of
from deputy.http.endpoints.authorize import _check_same_origin as check_same_origin
from deputy.http.forms import read_form
from deputy.http.render import page_error, page_headers, render_page
from deputy.oauth.tokens import new_secret
from deputy.service import authorization as flows
from deputy.service.connected_apps import check_apps_csrf, list_connected_apps, revoke_access
from deputy.service.sign_in import start_sign_in
from deputy.upstream.client import UpstreamError

__all__ = ["apps", "revoke"]


def _when(epoch: int | None) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC") if epoch is not None else "never"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


async def apps(request: Request) -> Response:
    deps = deps_of(request)
    csrf_cookie = cookies.read_cookie(request, cookies.CSRF)
    fresh_cookie = csrf_cookie is None
    csrf_cookie = csrf_cookie or new_secret()
    user = await deps.run(flows.session_user, deps.ctx, cookies.read_cookie(request, cookies.SESSION))
    if user is None:
        response = await _sign_in_page(deps, csrf_cookie, failed="error" in request.query_params)
    else:
        view = await deps.run(list_connected_apps, deps.ctx, user, csrf_cookie=csrf_cookie)
        response = render_page("apps.html", view=view, when=_when, upstream_name=deps.ctx.upstream_name)
    if fresh_cookie:
        cookies.set_cookie(response, cookies.CSRF, csrf_cookie, max_age=None)
    return response


async def _sign_in_page(deps: Deps, csrf_cookie: str, *, failed: bool) -> Response:
    """The sign-in button: a flow approved through POST /consent whose callback only opens the session."""
    name = deps.ctx.upstream_name
    try:
        upstream = await deps.upstream()
    except UpstreamError:
        return page_error(BrowserFlowError("Service unavailable", "Try again later.", status=503), name)
    view = await deps.run(start_sign_in, deps.ctx, csrf_cookie=csrf_cookie)
    # The form posts to Deputy, whose answer redirects upstream: CSP form-action covers the redirect too.
    form_action = _origin(upstream.endpoints.authorize_url)
    return render_page("apps_signin.html", view=view, failed=failed, upstream_name=name, form_action=form_action)


async def revoke(request: Request) -> Response:
    deps = deps_of(request)
    try:
        check_same_origin(request, deps.ctx.issuer)
        try:
            form = await read_form(request)
        except InvalidRequestError as exc:
            raise BrowserFlowError("Invalid request", "The form was malformed.") from exc
        user = await deps.run(flows.session_user, deps.ctx, cookies.read_cookie(request, cookies.SESSION))
        if user is None:
            raise BrowserFlowError("Not signed in", "Sign in on the applications page first.", status=403)
        csrf_cookie = cookies.read_cookie(request, cookies.CSRF)
        client_id, token = form.get("client_id"), form.get("csrf_token")
        if not (csrf_cookie and client_id and token and check_apps_csrf(deps.ctx, csrf_cookie, user.user_id, token)):
            raise BrowserFlowError("This request is no longer valid", "Reload the page and try again.", status=403)
        await deps.run(revoke_access, deps.ctx, user.user_id, client_id, actor="user")
    except BrowserFlowError as exc:
        return page_error(exc, deps.ctx.upstream_name)
    # 303: the browser loads the list again rather than re-posting the form.
    return RedirectResponse(deps.ctx.issuer + "/apps", status_code=303, headers=page_headers())
