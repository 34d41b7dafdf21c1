"""The browser leg: /authorize, /login, /consent and /logout.

Decisions are made afresh on every request from server-side state. The consent form carries only the
canonical authorization request and a session-bound CSRF token; the request is validated again on submit, so
a tampered form can at most ask for something the user is about to see and approve themselves.
"""

from __future__ import annotations

import hmac
from urllib.parse import parse_qsl, urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from . import cookies
from .authorize import (
    AuthorizationRequest,
    RedirectableError,
    UnredirectableError,
    parse_authorization_request,
    with_query,
)
from .context import AcmeContext
from .forms import MAX_VALUE_LENGTH, FormError, read_form
from .grants import Session
from .settings import AcmeUser

_BAD_REQUEST_TITLE = "Something went wrong"


class BrowserEndpoints:
    def __init__(self, ctx: AcmeContext) -> None:
        self._ctx = ctx
        self._settings = ctx.settings
        self._store = ctx.store
        self._stats = ctx.stats

    def routes(self) -> list[Route]:
        return [
            Route("/authorize", self.authorize, methods=["GET"]),
            Route("/login", self.login, methods=["POST"]),
            Route("/consent", self.consent, methods=["POST"]),
            Route("/logout", self.logout, methods=["POST"]),
        ]

    async def authorize(self, request: Request) -> Response:
        self._stats.bump("authorize_requests")
        result = self._parse(request, request.query_params.multi_items())
        if isinstance(result, Response):
            return result
        session = self._store.session(cookies.session_id(request))
        if session is None:
            return self._login_page(request, result.query, result.client.name)
        user = self._user(session)
        if self._remembered(request, session, result):
            self._stats.bump("consent_skipped")
            return self._issue_code(result, user)
        self._stats.bump("consent_pages_shown")
        return self._ctx.pages.consent(request, result, user, session)

    async def login(self, request: Request) -> Response:
        try:
            form = await read_form(request)
        except FormError as exc:
            return self._ctx.pages.message(request, _BAD_REQUEST_TITLE, str(exc), 400)
        return_to = _canonical_query(form.get("return_to", ""))
        if return_to is None:
            return self._ctx.pages.message(request, _BAD_REQUEST_TITLE, "The sign-in link is malformed.", 400)
        user = self._check_password(form.get("username", ""), form.get("password", ""))
        if user is None:
            client = self._settings.client(dict(parse_qsl(return_to)).get("client_id", ""))
            name = client.name if client is not None else None
            return self._login_page(request, return_to, name, "Incorrect username or password.", 401)
        return self._start_session(request, user, return_to)

    async def consent(self, request: Request) -> Response:
        try:
            form = await read_form(request)
        except FormError as exc:
            return self._ctx.pages.message(request, _BAD_REQUEST_TITLE, str(exc), 400)
        session = self._store.session(cookies.session_id(request))
        if session is None or not _same(form.get("csrf_token", ""), session.csrf_token):
            message = "Your session has expired. Go back to the application and try again."
            return self._ctx.pages.message(request, _BAD_REQUEST_TITLE, message, 400)
        result = self._parse(request, parse_qsl(form.get("request", ""), keep_blank_values=True))
        if isinstance(result, Response):
            return result
        decision = form.get("decision")
        if decision == "deny":
            denied = RedirectableError("access_denied", "the user denied access", result.redirect_uri, result.state)
            return _redirect_error(denied, self._settings.issuer, status=303)
        if decision != "approve":
            return self._ctx.pages.message(request, _BAD_REQUEST_TITLE, "Please choose Allow or Cancel.", 400)
        return self._approve(request, session, result)

    async def logout(self, request: Request) -> Response:
        current = cookies.session_id(request)
        if current:
            self._store.delete_session(current)
        response = self._ctx.pages.message(request, "Signed out", "You have been signed out of Acme CRM.")
        cookies.clear_session(response)
        return response

    # --- steps ------------------------------------------------------------------------------------------------

    def _parse(self, request: Request, pairs: list[tuple[str, str]]) -> AuthorizationRequest | Response:
        try:
            return parse_authorization_request(pairs, self._settings)
        except UnredirectableError as exc:
            return self._ctx.pages.message(request, "This link cannot be used", str(exc), 400)
        except RedirectableError as exc:
            return _redirect_error(exc, self._settings.issuer)

    def _remembered(self, request: Request, session: Session, auth: AuthorizationRequest) -> bool:
        client_id = auth.client.client_id
        consented = self._store.has_consent(session.user_id, client_id, auth.scopes)
        return consented and self._store.device_remembers(cookies.device_id(request), session.user_id, client_id)

    def _approve(self, request: Request, session: Session, auth: AuthorizationRequest) -> Response:
        client_id = auth.client.client_id
        self._store.record_consent(session.user_id, client_id, auth.scopes)
        device = self._store.remember_device(cookies.device_id(request), session.user_id, client_id)
        response = self._issue_code(auth, self._user(session), status=303)
        cookies.set_consent(response, device, self._settings.consent_cookie_max_age)
        return response

    def _issue_code(self, auth: AuthorizationRequest, user: AcmeUser, status: int = 302) -> Response:
        code = self._store.issue_code(
            auth.client.client_id, auth.redirect_uri, auth.scopes, user.user_id, auth.code_challenge
        )
        self._stats.bump("codes_issued")
        params = {"code": code.code, **_state(auth.state), "iss": self._settings.issuer}
        return RedirectResponse(with_query(auth.redirect_uri, params), status_code=status)

    def _login_page(
        self, request: Request, return_to: str, client_name: str | None, error: str | None = None, status: int = 200
    ) -> Response:
        self._stats.bump("login_pages_shown")
        return self._ctx.pages.login(request, return_to, client_name, error, status)

    def _check_password(self, username: str, password: str) -> AcmeUser | None:
        user = self._settings.user_by_username(username)
        expected = user.password if user is not None else "\x00" * 16
        password_ok = _same(password, expected)
        return user if user is not None and password_ok else None

    def _start_session(self, request: Request, user: AcmeUser, return_to: str) -> Response:
        """A fresh session id on every login, so a planted session cookie is never upgraded (fixation)."""
        previous = cookies.session_id(request)
        if previous:
            self._store.delete_session(previous)
        session = self._store.create_session(user.user_id)
        self._stats.bump("logins")
        response = RedirectResponse(self._settings.endpoint(f"/authorize?{return_to}"), status_code=303)
        cookies.set_session(response, session.session_id)
        return response

    def _user(self, session: Session) -> AcmeUser:
        user = self._settings.user_by_id(session.user_id)
        if user is None:  # pragma: no cover - sessions are only created for configured users
            raise LookupError(session.user_id)
        return user


def _redirect_error(exc: RedirectableError, issuer: str, status: int = 302) -> Response:
    params = {"error": exc.error, "error_description": exc.description, **_state(exc.state), "iss": issuer}
    return RedirectResponse(with_query(exc.redirect_uri, params), status_code=status)


def _state(state: str | None) -> dict[str, str]:
    return {"state": state} if state is not None else {}


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def _canonical_query(raw: str) -> str | None:
    """Re-encode the resume target so only a query string for /authorize can ever come out of it."""
    if len(raw) > MAX_VALUE_LENGTH:
        return None
    try:
        return urlencode(parse_qsl(raw, keep_blank_values=True, errors="strict"))
    except (UnicodeDecodeError, ValueError):
        return None
