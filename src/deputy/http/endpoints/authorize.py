"""GET /authorize and POST /consent: Deputy's own consent step, before anything goes upstream."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from deputy.errors import AuthorizationRedirect, BrowserFlowError, InvalidRequestError
from deputy.http import cookies
from deputy.http.deps import Deps, deps_of
from deputy.http.forms import read_form, single_values
from deputy.http.render import authorization_error_redirect, page_error, redirect, render_page
from deputy.oauth.pkce import s256_challenge
from deputy.oauth.tokens import new_secret
from deputy.service import authorization as flows
from deputy.upstream.client import UpstreamError

__all__ = ["authorize", "consent"]


def _origin(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme in ("http", "https"):
        return f"{parts.scheme}://{parts.netloc}"
    return f"{parts.scheme}:"


def _unavailable() -> BrowserFlowError:
    return BrowserFlowError(
        "Service unavailable", "The upstream service cannot be reached right now. Try again later.", status=503
    )


async def authorize(request: Request) -> Response:
    deps = deps_of(request)
    name = deps.ctx.upstream_name
    csrf_cookie = cookies.read_cookie(request, cookies.CSRF)
    fresh_cookie = csrf_cookie is None
    csrf_cookie = csrf_cookie or new_secret()
    try:
        try:
            params = single_values(request.query_params.multi_items())
        except InvalidRequestError as exc:
            raise BrowserFlowError("Invalid request", "The authorization request is malformed.") from exc
        user = await deps.run(flows.session_user, deps.ctx, cookies.read_cookie(request, cookies.SESSION))
        document = await flows.resolve_document_client(deps.ctx, params.get("client_id"))
        view = await deps.run(
            flows.start_authorization,
            deps.ctx,
            params,
            csrf_cookie=csrf_cookie,
            user=user,
            document=document,
            fetch_site=request.headers.get("sec-fetch-site"),
        )
        if isinstance(view, flows.ApprovedFlow):  # a remembered consent applied: straight to the approval step
            return await _to_upstream(deps, view, status=302)
        upstream = await deps.upstream()
    except BrowserFlowError as exc:
        return page_error(exc, name)
    except AuthorizationRedirect as exc:
        return authorization_error_redirect(exc, deps.ctx.issuer)
    except UpstreamError:
        return page_error(_unavailable(), name)
    form_action = f"{_origin(upstream.endpoints.authorize_url)} {_origin(view.request.redirect_uri)}"
    response = render_page("consent.html", view=view, upstream_name=name, form_action=form_action)
    if fresh_cookie:
        cookies.set_cookie(response, cookies.CSRF, csrf_cookie, max_age=None)
    return response


def _check_same_origin(request: Request, issuer: str) -> None:
    """Origin and Fetch Metadata on the consent POST: only Deputy's own page may submit it.

    The page is served with ``Referrer-Policy: no-referrer``, under which Chromium sends ``Origin: null`` even for
    a same-origin form; ``null`` is therefore accepted only together with ``Sec-Fetch-Site: same-origin``.

    Raises:
        BrowserFlowError: a foreign Origin or a cross-site request.
    """
    origin = request.headers.get("origin")
    site = request.headers.get("sec-fetch-site")
    foreign_origin = (
        origin is not None and origin != _origin(issuer) and not (origin == "null" and site == "same-origin")
    )
    if foreign_origin or (site is not None and site not in ("same-origin", "none")):
        raise BrowserFlowError("Request refused", "This form can only be submitted from Deputy's own page.", status=403)


async def consent(request: Request) -> Response:
    deps = deps_of(request)
    try:
        _check_same_origin(request, deps.ctx.issuer)
        try:
            form = await read_form(request)
        except InvalidRequestError as exc:
            raise BrowserFlowError("Invalid request", "The consent form was malformed.") from exc
        csrf_cookie = cookies.read_cookie(request, cookies.CSRF)
        flow_id, token, action = form.get("flow_id"), form.get("csrf_token"), form.get("action")
        if not (csrf_cookie and flow_id and token) or action not in ("approve", "deny"):
            raise BrowserFlowError("This request is no longer valid", "Start again from the application.")
        if action == "deny":
            return redirect(await deps.run(flows.deny, deps.ctx, flow_id, token, csrf_cookie), status=303)
        return await _approve(deps, flow_id, token, csrf_cookie)
    except BrowserFlowError as exc:
        return page_error(exc, deps.ctx.upstream_name)
    except UpstreamError:
        return page_error(_unavailable(), deps.ctx.upstream_name)


async def _approve(deps: Deps, flow_id: str, token: str, csrf_cookie: str) -> Response:
    await deps.upstream()
    approved = await deps.run(flows.approve, deps.ctx, flow_id, token, csrf_cookie)
    # RFC 9700 §4.12: 303 after a POST, so the browser does not re-post the form to the upstream.
    return await _to_upstream(deps, approved, status=303)


async def _to_upstream(deps: Deps, approved: flows.ApprovedFlow, *, status: int) -> Response:
    """The redirect upstream, with the browser binding set NOW, immediately before it (invariant 4).

    Raises:
        UpstreamError: the upstream's endpoints cannot be discovered.
    """
    upstream = await deps.upstream()
    url = upstream.authorize_url(
        state=approved.upstream_state,
        scopes=approved.upstream_scopes,
        resource=approved.flow.resource,
        code_challenge=s256_challenge(approved.code_verifier) if approved.code_verifier else None,
    )
    response = redirect(url, status=status)
    cookies.set_cookie(response, cookies.BINDING, approved.binding_token, max_age=deps.ctx.settings.lifetimes.flow)
    return response
