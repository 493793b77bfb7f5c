"""ASGI middleware (Starlette, FastAPI) for HTTP and WebSocket scopes.

The verified token goes into ``scope["state"]["access_token"]`` (``request.state`` in
Starlette). A WebSocket handshake that fails is closed with 1008 before it is accepted,
which servers answer with HTTP 403. ``websocket_sign_in=True`` lets a handshake without a
token through, to sign in with its first message. In the endpoint,
``asgi_session(websocket, guard)`` gives the same ``WebSocketSession`` lifecycle as the
``websockets`` adapter: expiry, revocation, re-authentication, the stale rule.
"""

from __future__ import annotations

import contextlib
import urllib.parse
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any, Literal

from tessera_middleware.codec import Codec
from tessera_middleware.errors import InvalidRequest, InvalidToken, MiddlewareError
from tessera_middleware.guard import Authorized, ResourceGuard, origin_allowed, single_valued
from tessera_middleware.ws import WebSocketSession, token_from_subprotocols

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
        websocket_sign_in: bool = False,
        allow_delegated_for: Callable[[str, str], bool] = lambda method, path: True,
    ) -> None:
        self.app = app
        self.guard = guard
        self.scopes_for = scopes_for
        self.allow_delegated_for = allow_delegated_for
        self.exempt = frozenset(exempt_paths)
        self.ws_query = websocket_query_token
        self.ws_origins = None if websocket_origins is None else tuple(websocket_origins)
        self.ws_sign_in = websocket_sign_in

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
        if auth is None:  # a token-less WebSocket handshake that will sign in in band
            scope.setdefault("state", {})["access_token"] = None
            await self.app(scope, receive, send)
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

    async def _authorize(self, scope: Scope, websocket: bool) -> Authorized | None:
        headers = _headers(scope)
        # latin-1 never fails: a query string is bytes off the wire, not necessarily UTF-8.
        raw_query = scope.get("query_string", b"").decode("latin-1")
        query = single_valued(urllib.parse.parse_qsl(raw_query))
        method = "WEBSOCKET" if websocket else scope.get("method", "GET")
        scopes = self.scopes_for(method, scope["path"])
        allow_delegated = self.allow_delegated_for(method, scope["path"])
        authorization = headers.get("authorization")
        if websocket:
            if not origin_allowed(headers.get("origin"), self.ws_origins):
                raise InvalidToken("this origin may not open a WebSocket here")
            from_protocol = token_from_subprotocols(scope.get("subprotocols", ()))
            if authorization is None and from_protocol is not None:
                authorization = f"Bearer {from_protocol}"
            if authorization is None and "access_token" not in query and self.ws_sign_in:
                return None
        allow_query = websocket and self.ws_query
        # Keys the guard lacks are fetched in a thread: the event loop never waits on the issuer.
        return await self.guard.off_loop(
            lambda block: self.guard.authorize_request(
                authorization,
                query,
                scopes,
                allow_query=allow_query,
                count=False,
                block=block,
                allow_delegated=allow_delegated,
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


def asgi_session(
    websocket: Any,
    guard: ResourceGuard,
    *,
    codec: Codec | None = None,
    scopes: Iterable[str] = (),
    on_invalid: Literal["close", "downgrade"] = "close",
    clock: Callable[[], float] | None = None,
) -> WebSocketSession:
    """The session of a Starlette (or FastAPI) ``WebSocket``, after ``accept()``.

    Signed in when ``TesseraASGIMiddleware`` verified a handshake token; otherwise call
    ``await session.sign_in_first_message()``. ``scopes``: what an in-band sign-in token must
    hold. Then ``async with session: async for message in session.messages(): ...``.
    """
    state = websocket.scope.get("state") or {}

    async def receive() -> str | bytes | None:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return None
        text = message.get("text")
        return text if text is not None else message.get("bytes") or b""

    async def close(code: int, reason: str) -> None:
        # A client that already left makes Starlette refuse the close frame: nothing to close.
        with contextlib.suppress(RuntimeError, OSError):
            await websocket.close(code, reason)

    return WebSocketSession(
        guard,
        state.get("access_token"),
        send_text=websocket.send_text,
        close=close,
        receive=receive,
        codec=codec,
        scopes=scopes,
        on_invalid=on_invalid,
        clock=clock,
    )
