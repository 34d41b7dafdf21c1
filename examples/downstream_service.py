"""A downstream service that trusts Deputy: it accepts only tokens Deputy minted *for it* by token exchange.

Run it next to Deputy (docs/token-exchange.md has the whole walk-through with ``deputy demo``)::

    python examples/downstream_service.py --issuer http://127.0.0.1:8000 --audience http://127.0.0.1:9300

``GET /whoami`` with ``Authorization: Bearer <exchanged token>`` answers who is calling: the user (``sub``), the
MCP client the user authorized (``client_id``), the party that asked for this token (``act.sub``) and the scope.

What makes a token acceptable here, checked in this order:

1. a compact JWS with ``typ: at+jwt`` and ``alg: ES256`` (RFC 9068 §2.1, never ``none`` or an HMAC);
2. signed by a key in Deputy's ``/jwks``, fetched once and cached; a token naming an unknown ``kid`` triggers one
   refetch (Deputy publishes a new key before signing with it), at most every ``min_refresh_seconds``;
3. ``iss`` is Deputy's issuer exactly and ``aud`` is *this* service's audience exactly: a token Deputy issued for its
   own MCP endpoint, or for another service, is refused, so no token can be replayed across services;
4. ``exp`` in the future and ``iat`` not in the future (30 s leeway for clock skew);
5. an ``act`` claim naming the actor: only exchanged tokens carry one;
6. the required scope, if one is configured (403 ``insufficient_scope`` otherwise).

Only the standard library, Starlette, httpx, joserfc and uvicorn are used: the dependencies Deputy already has.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio
import httpx
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jws import extract_compact
from joserfc.jwt import JWTClaimsRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

__all__ = ["Caller", "JwksCache", "ServiceConfig", "TokenRejected", "TokenVerifier", "create_app", "main"]

ALGORITHMS = ("ES256",)
TYP = "at+jwt"
LEEWAY = 30
MAX_TOKEN = 4096
MAX_JWKS_BYTES = 64 * 1024


@dataclass(frozen=True)
class ServiceConfig:
    issuer: str
    audience: str
    jwks_url: str | None = None  # default: issuer + "/jwks"
    required_scope: str | None = None
    min_refresh_seconds: float = 30.0


@dataclass(frozen=True)
class Caller:
    subject: str
    client_id: str
    actor: str
    scopes: tuple[str, ...]
    expires_at: int

    def to_json(self) -> dict[str, object]:
        return {
            "sub": self.subject,
            "client_id": self.client_id,
            "actor": self.actor,
            "scope": " ".join(self.scopes),
            "expires_at": self.expires_at,
        }


class TokenRejected(Exception):
    """RFC 6750 §3.1: ``invalid_token`` (401) or ``insufficient_scope`` (403). The reason is never the token."""

    def __init__(self, error: str, description: str, status: int = 401) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


class JwksCache:
    """Deputy's public signing keys, refetched only for a ``kid`` not seen yet and then at a bounded rate, so forged
    ``kid`` values cannot make this service hammer Deputy."""

    def __init__(
        self,
        jwks_url: str,
        http: httpx.AsyncClient,
        *,
        min_refresh_seconds: float = 30.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.jwks_url = jwks_url
        self.fetches = 0
        self._http = http
        self._min_refresh = min_refresh_seconds
        self._monotonic = monotonic
        self._keys: KeySet | None = None
        self._kids: frozenset[str] = frozenset()
        self._fetched_at: float | None = None
        self._lock = anyio.Lock()

    async def keys_for(self, kid: str) -> KeySet | None:
        """The key set if it holds ``kid`` (refetching once if allowed), else ``None``."""
        if kid in self._kids:
            return self._keys
        async with self._lock:
            if kid not in self._kids and self._may_refresh():
                await self._fetch()
        return self._keys if kid in self._kids else None

    def _may_refresh(self) -> bool:
        return self._fetched_at is None or self._monotonic() - self._fetched_at >= self._min_refresh

    async def _fetch(self) -> None:
        self._fetched_at = self._monotonic()
        self.fetches += 1
        try:
            r = await self._http.get(self.jwks_url, headers={"accept": "application/json"})
            if r.status_code != 200 or len(r.content) > MAX_JWKS_BYTES:
                return
            data = json.loads(r.content)
            keys = [k for k in data.get("keys", []) if isinstance(k, dict) and k.get("use", "sig") == "sig"]
            key_set = KeySet.import_key_set({"keys": keys})
        except (httpx.HTTPError, ValueError, TypeError, AttributeError, JoseError):
            return  # keep the keys we had; the token at hand is refused if its key is unknown
        self._keys = key_set
        self._kids = frozenset(str(k["kid"]) for k in keys if isinstance(k.get("kid"), str))


class TokenVerifier:
    def __init__(self, config: ServiceConfig, jwks: JwksCache, *, now: Callable[[], int] | None = None) -> None:
        self.config = config
        self.jwks = jwks
        self._claims = JWTClaimsRegistry(
            now=now,
            leeway=LEEWAY,
            iss={"essential": True, "value": config.issuer},
            aud={"essential": True, "value": config.audience},
            sub={"essential": True},
            exp={"essential": True},
            iat={"essential": True},
            jti={"essential": True},
            client_id={"essential": True},
        )

    async def verify(self, token: str) -> Caller:
        """Raises:
        TokenRejected: for any failure; the description says which kind, never echoing the token.
        """
        if len(token) > MAX_TOKEN:
            raise TokenRejected("invalid_token", "token is too long")
        try:
            header = extract_compact(token.encode("ascii")).headers()
        except (JoseError, ValueError, UnicodeError):
            raise TokenRejected("invalid_token", "token is not a JWS") from None
        if header.get("typ") != TYP or header.get("alg") not in ALGORITHMS:
            raise TokenRejected("invalid_token", "token is not an ES256 access token")
        keys = await self.jwks.keys_for(str(header.get("kid", "")))
        if keys is None:
            raise TokenRejected("invalid_token", "token is signed by an unknown key")
        try:
            claims = jwt.decode(token, keys, algorithms=list(ALGORITHMS)).claims
            self._claims.validate(claims)
        except (JoseError, ValueError, TypeError):
            raise TokenRejected("invalid_token", "token is invalid, expired or not for this service") from None
        return self._caller(claims)

    def _caller(self, claims: Mapping[str, object]) -> Caller:
        act, scope = claims.get("act"), claims.get("scope", "")
        if not isinstance(act, dict) or not isinstance(act.get("sub"), str) or not isinstance(scope, str):
            raise TokenRejected("invalid_token", "token was not obtained by token exchange")
        scopes = tuple(scope.split())
        required = self.config.required_scope
        if required is not None and required not in scopes:
            raise TokenRejected("insufficient_scope", f"the {required} scope is required", status=403)
        return Caller(str(claims["sub"]), str(claims["client_id"]), act["sub"], scopes, int(str(claims["exp"])))


def _bearer(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise TokenRejected("invalid_token", "a bearer token is required")
    return token.strip()


def _rejection(exc: TokenRejected, config: ServiceConfig) -> Response:
    challenge = f'Bearer realm="{config.audience}", error="{exc.error}", error_description="{exc.description}"'
    body = {"error": exc.error, "error_description": exc.description}
    return JSONResponse(
        body, status_code=exc.status, headers={"WWW-Authenticate": challenge, "Cache-Control": "no-store"}
    )


def create_app(
    config: ServiceConfig,
    *,
    http: httpx.AsyncClient | None = None,
    monotonic: Callable[[], float] = time.monotonic,
    now: Callable[[], int] | None = None,
) -> Starlette:
    """The service: ``GET /whoami`` behind the verifier. ``http`` is the client used to fetch the JWKS."""
    client = http or httpx.AsyncClient(timeout=5.0, follow_redirects=False)
    jwks = JwksCache(
        config.jwks_url or config.issuer + "/jwks",
        client,
        min_refresh_seconds=config.min_refresh_seconds,
        monotonic=monotonic,
    )
    verifier = TokenVerifier(config, jwks, now=now)

    async def whoami(request: Request) -> Response:
        try:
            caller = await verifier.verify(_bearer(request))
        except TokenRejected as exc:
            return _rejection(exc, config)
        return JSONResponse(caller.to_json(), headers={"Cache-Control": "no-store"})

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        if http is None:
            await client.aclose()

    app = Starlette(routes=[Route("/whoami", whoami, methods=["GET"])], lifespan=lifespan)
    app.state.verifier = verifier
    return app


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description="A service that accepts Deputy's exchanged tokens.")
    parser.add_argument("--issuer", required=True, help="Deputy's issuer (its base URL), e.g. http://127.0.0.1:8000")
    parser.add_argument("--audience", required=True, help="this service's audience, as configured in [downstream.*]")
    parser.add_argument("--jwks-url", help="Deputy's JWK Set (default: ISSUER/jwks)")
    parser.add_argument("--scope", help="a scope every caller must hold, e.g. crm.read")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9300)
    args = parser.parse_args(argv)
    config = ServiceConfig(args.issuer.rstrip("/"), args.audience, args.jwks_url, args.scope)
    uvicorn.run(create_app(config), host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()
