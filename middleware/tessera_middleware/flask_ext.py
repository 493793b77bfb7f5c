"""Flask adapter: ``TesseraAuth(app, guard)`` and ``@require_token("orders:read")``."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, Response, current_app, g, make_response, request

from tessera_middleware.errors import MiddlewareError
from tessera_middleware.guard import ResourceGuard, single_valued

F = TypeVar("F", bound=Callable[..., Any])
EXTENSION_KEY = "tessera_auth"


class TesseraAuth:
    def __init__(self, app: Flask | None = None, guard: ResourceGuard | None = None) -> None:
        self.guard = guard
        if app is not None:
            self.init_app(app, guard)

    def init_app(self, app: Flask, guard: ResourceGuard | None = None) -> None:
        guard = guard or self.guard
        if guard is None:
            raise ValueError("TesseraAuth needs a ResourceGuard")
        self.guard = guard
        app.extensions[EXTENSION_KEY] = guard


def _error(guard: ResourceGuard, exc: MiddlewareError) -> Response:
    err = guard.error(exc)
    return Response(err.body, status=err.status, headers=err.headers)


def require_token(
    *scopes: str, any_of: bool = False, allow_delegated: bool = True
) -> Callable[[F], F]:
    """Protect a view: the verified token is ``flask.g.access_token``.

    ``allow_delegated=False``: the user in person only; a token carrying an RFC 8693 ``act``
    claim (an app acting for them) gets 401 ``insufficient_user_authentication``."""

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            guard: ResourceGuard = current_app.extensions[EXTENSION_KEY]
            try:
                query = single_valued(request.args.items(multi=True))
                auth = guard.authorize_request(
                    request.headers.get("Authorization"),
                    query,
                    scopes,
                    any_of=any_of,
                    allow_delegated=allow_delegated,
                )
            except MiddlewareError as exc:
                return _error(guard, exc)
            g.access_token = auth.token
            response = make_response(view(*args, **kwargs))
            for name, value in auth.headers():
                response.headers[name] = value
            return response

        return wrapper  # type: ignore[return-value]

    return decorator
