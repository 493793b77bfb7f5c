"""WSGI middleware: every request (but exempt paths) needs a valid token."""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Iterable
from typing import Any

from tessera_middleware.errors import MiddlewareError
from tessera_middleware.guard import ResourceGuard, single_valued

ScopesFor = Callable[[str, str], Iterable[str]]
DelegatedFor = Callable[[str, str], bool]
ENVIRON_KEY = "tessera.access_token"


class TesseraWSGIMiddleware:
    """Wraps a WSGI app; ``scopes_for(method, path)`` names what each request needs, and
    ``allow_delegated_for(method, path)`` False makes a request refuse delegated tokens."""

    def __init__(
        self,
        app: Callable[..., Iterable[bytes]],
        guard: ResourceGuard,
        *,
        scopes_for: ScopesFor = lambda method, path: (),
        exempt_paths: Iterable[str] = (),
        allow_delegated_for: DelegatedFor = lambda method, path: True,
    ) -> None:
        self.app = app
        self.guard = guard
        self.scopes_for = scopes_for
        self.allow_delegated_for = allow_delegated_for
        self.exempt = frozenset(exempt_paths)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "") or "/"
        if path in self.exempt:
            return self.app(environ, start_response)
        try:
            query = single_valued(urllib.parse.parse_qsl(environ.get("QUERY_STRING", "")))
            method = environ.get("REQUEST_METHOD", "GET")
            auth = self.guard.authorize_request(
                environ.get("HTTP_AUTHORIZATION"),
                query,
                self.scopes_for(method, path),
                allow_delegated=self.allow_delegated_for(method, path),
            )
        except MiddlewareError as exc:
            err = self.guard.error(exc)
            start_response(f"{err.status} {_REASONS.get(err.status, 'Error')}", err.headers)
            return [err.body]
        environ[ENVIRON_KEY] = auth.token
        extra = auth.headers()

        def start_with_rate_headers(status: str, headers: list, exc_info: Any = None) -> Any:
            return start_response(status, [*headers, *extra], exc_info)

        return self.app(environ, start_with_rate_headers)


_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    429: "Too Many Requests",
    503: "Service Unavailable",
}
