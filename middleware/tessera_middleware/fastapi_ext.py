"""FastAPI adapter: ``install(app, guard)`` and ``Security(require_scopes("orders:read"))``.

    from fastapi import FastAPI, Security
    from tessera_middleware.fastapi_ext import install, require_scopes

    app = FastAPI()
    install(app, guard)

    @app.get("/orders")
    async def orders(token: AccessToken = Security(require_scopes("orders:read"))):
        return {"user": token.subject}

The dependency verifies the bearer token off the event loop (``ResourceGuard.off_loop``),
checks the scopes and the revocation data's freshness, counts one rate-limit hit and sets the
``RateLimit-*`` headers; a refusal is the RFC 6750 answer (status, ``WWW-Authenticate``, JSON
body ``{"error", "error_description"}``). The OpenAPI document gets a security scheme (HTTP
bearer JWT by default, or ``oauth2_scheme(...)`` for Tessera's authorization code flow, which
Swagger UI can sign in with) and each route lists the scopes it needs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import FastAPI, Request, Response, Security
from fastapi.security import HTTPBearer, OAuth2AuthorizationCodeBearer
from fastapi.security.base import SecurityBase

from tessera_middleware.errors import InvalidRequest, MiddlewareError
from tessera_middleware.guard import ResourceGuard
from tessera_middleware.tokens import AccessToken

STATE_KEY = "tessera_guard"
SCHEME_NAME = "tessera"


class TesseraRefused(Exception):
    """Raised by the dependency; ``install`` answers it with the guard's RFC 6750 response."""

    def __init__(self, guard: ResourceGuard, exc: MiddlewareError) -> None:
        super().__init__(exc.description)
        self.response = guard.error(exc)


def bearer_scheme(description: str = "A Tessera access token (RFC 9068 JWT)") -> SecurityBase:
    # auto_error=False: a missing token is answered by the guard (RFC 6750 3.1), not FastAPI.
    return HTTPBearer(
        bearerFormat="JWT", scheme_name=SCHEME_NAME, description=description, auto_error=False
    )


def oauth2_scheme(issuer: str, scopes: Mapping[str, str]) -> SecurityBase:
    """Tessera's authorization code flow in OpenAPI (its ``/oauth/authorize`` and token URLs)."""
    base = issuer.rstrip("/")
    return OAuth2AuthorizationCodeBearer(
        authorizationUrl=f"{base}/oauth/authorize",
        tokenUrl=f"{base}/oauth/token",
        scopes=dict(scopes),
        scheme_name=SCHEME_NAME,
        auto_error=False,
    )


DEFAULT_SCHEME = bearer_scheme()


def install(app: FastAPI, guard: ResourceGuard) -> None:
    """Give the app its guard and the handler that turns refusals into RFC 6750 answers."""
    setattr(app.state, STATE_KEY, guard)

    async def refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, TesseraRefused)
        err = exc.response
        headers = {k: v for k, v in err.headers if k.lower() != "content-type"}
        return Response(err.body, err.status, headers, media_type="application/json")

    app.add_exception_handler(TesseraRefused, refused)


def require_scopes(
    *scopes: str,
    any_of: bool = False,
    allow_delegated: bool = True,
    scheme: SecurityBase = DEFAULT_SCHEME,
) -> Callable[..., Awaitable[AccessToken]]:
    """A dependency for ``Security(...)``: the verified ``AccessToken`` holding ``scopes``
    (all of them, or one with ``any_of=True``); also ``request.state.access_token``.
    ``allow_delegated=False`` refuses tokens with an RFC 8693 ``act`` claim (401
    ``insufficient_user_authentication``)."""

    async def dependency(
        request: Request,
        response: Response,
        # The scheme and scopes for OpenAPI only (a default: closures cannot be annotations).
        _credentials: Any = Security(scheme, scopes=list(scopes)),  # noqa: B008
    ) -> AccessToken:
        guard: ResourceGuard = getattr(request.app.state, STATE_KEY)
        try:
            authorization = _single_authorization(request)
            auth = await guard.off_loop(
                lambda block: guard.authorize_request(
                    authorization,
                    None,
                    scopes,
                    any_of=any_of,
                    count=False,
                    block=block,
                    allow_delegated=allow_delegated,
                )
            )
        except MiddlewareError as exc:
            raise TesseraRefused(guard, exc) from None
        for name, value in auth.headers():
            response.headers[name] = value
        request.state.access_token = auth.token
        return auth.token

    return dependency


def _single_authorization(request: Request) -> str | None:
    values = request.headers.getlist("authorization")
    if len(values) > 1:  # two tokens: neither copy is safe to pick
        raise InvalidRequest("the authorization header was sent more than once")
    return values[0] if values else None


__all__ = [
    "DEFAULT_SCHEME",
    "TesseraRefused",
    "bearer_scheme",
    "install",
    "oauth2_scheme",
    "require_scopes",
]
