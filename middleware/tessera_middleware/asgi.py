"""ASGI middleware (Starlette, FastAPI) for HTTP and WebSocket scopes.

The verified token goes into ``scope["state"]["access_token"]`` (``request.state`` in
Starlette). A WebSocket handshake that fails is closed with 1008 before it is accepted,
which servers answer with HTTP 403.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from tessera_middleware.errors import InvalidRequest, InvalidToken, MiddlewareError
from tessera_middleware.guard import Authorized, ResourceGuard, origin_allowed, single_valued
from tessera_middleware.ws import token_from_subprotocols

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


# Headers that decide who is let in: sent twice, no "first" or "last" is safe to pick.
_SINGLE_HEADERS = frozenset({"authorization", "origin"})


def _headers(scope: Scope) -> dict[str, str]:
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope["headers"]:
        name = raw_name.decode("latin-1").lower()
        if name in headers and name in _SINGLE_HEADERS:
            raise InvalidRequest(f"the {name} header was sent more than once")
        headers[name] = raw_value.decode("latin-1")
    return headers


class TesseraASGIMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        guard: ResourceGuard,
        *,
        scopes_for: Callable[[str, str], Iterable[str]] = lambda method, path: (),
        exempt_paths: Iterable[str] = (),
        websocket_query_token: bool = False,
        websocket_origins: Iterable[str] | None = None,
    ) -> None:
        self.app = app
        self.guard = guard
        self.scopes_for = scopes_for
        self.exempt = frozenset(exempt_paths)
        self.ws_query = websocket_query_token
        self.ws_origins = None if websocket_origins is None else tuple(websocket_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope["path"] in self.exempt:
            await self.app(scope, receive, send)
            return
        websocket = scope["type"] == "websocket"
        try:
            auth = await self._authorize(scope, websocket)
        except MiddlewareError as exc:
            await (self._reject_ws(receive, send) if websocket else self._reject_http(send, exc))
            return
        scope.setdefault("state", {})["access_token"] = auth.token
        extra = [(k.encode(), v.encode()) for k, v in auth.headers()]
        if websocket or not extra:
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _authorize(self, scope: Scope, websocket: bool) -> Authorized:
        headers = _headers(scope)
        # latin-1 never fails: a query string is bytes off the wire, not necessarily UTF-8.
        raw_query = scope.get("query_string", b"").decode("latin-1")
        query = single_valued(urllib.parse.parse_qsl(raw_query))
        method = "WEBSOCKET" if websocket else scope.get("method", "GET")
        scopes = self.scopes_for(method, scope["path"])
        authorization = headers.get("authorization")
        if websocket:
            if not origin_allowed(headers.get("origin"), self.ws_origins):
                raise InvalidToken("this origin may not open a WebSocket here")
            from_protocol = token_from_subprotocols(scope.get("subprotocols", ()))
            if authorization is None and from_protocol is not None:
                authorization = f"Bearer {from_protocol}"
        allow_query = websocket and self.ws_query
        # Keys the guard lacks are fetched in a thread: the event loop never waits on the issuer.
        return await self.guard.off_loop(
            lambda block: self.guard.authorize_request(
                authorization, query, scopes, allow_query=allow_query, count=False, block=block
            )
        )

    async def _reject_http(self, send: Send, exc: MiddlewareError) -> None:
        err = self.guard.error(exc)
        await send(
            {
                "type": "http.response.start",
                "status": err.status,
                "headers": [(k.lower().encode(), v.encode()) for k, v in err.headers],
            }
        )
        await send({"type": "http.response.body", "body": err.body})

    async def _reject_ws(self, receive: Receive, send: Send) -> None:
        await receive()  # the websocket.connect event comes first; then refuse the handshake
        await send({"type": "websocket.close", "code": 1008, "reason": "unauthorized"})
