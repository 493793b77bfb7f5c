"""Glue for the ``websockets`` library's asyncio server.

    serve(handler, host, port,
          process_request=guard_handshake(guard, origins=[...], scopes=["ws:connect"]),
          select_subprotocol=select_app_protocol("wfm", "tessera.v1"))

The verified ``Authorized`` is then ``connection.tessera_auth``; make a session with
``session_for(connection, guard, codec=WfmCodec())`` (JSON by default). A connection without
a handshake token (``required=False``) signs in with its first message:
``await session.sign_in_first_message()``. The lifecycle itself is ``ws.WebSocketSession``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Literal

from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from tessera_middleware.codec import Codec
from tessera_middleware.errors import InvalidRequest, MiddlewareError
from tessera_middleware.guard import Authorized, ResourceGuard, origin_allowed, single_valued
from tessera_middleware.ws import BEARER_PROTOCOL_PREFIX, WebSocketSession, token_from_subprotocols


def _one(headers: Headers, name: str) -> str | None:
    """A header that decides who is let in; sent twice, neither copy is safe to pick."""
    values = headers.get_all(name)
    if len(values) > 1:
        raise InvalidRequest(f"the {name} header was sent more than once")
    return values[0] if values else None


def _protocols(request: Request) -> list[str]:
    header = ",".join(request.headers.get_all("Sec-WebSocket-Protocol"))
    return [p.strip() for p in header.split(",") if p.strip()]


def guard_handshake(
    guard: ResourceGuard,
    *,
    scopes: Iterable[str] = (),
    origins: Iterable[str] | None = None,
    required: bool = True,
    query_token: bool = False,
    allow_delegated: bool = True,
) -> Callable[[ServerConnection, Request], Awaitable[Response | None]]:
    """A ``process_request`` hook: check Origin, then the token (header or subprotocol).

    ``required=False`` lets token-less handshakes through for in-band sign-in.
    ``allow_delegated=False`` refuses handshake tokens with an RFC 8693 ``act`` claim (401
    insufficient_user_authentication). A coroutine:
    signing keys it lacks are fetched in a thread, never on the event loop.
    """
    scopes, allowed = tuple(scopes), None if origins is None else tuple(origins)

    async def process_request(connection: ServerConnection, request: Request) -> Response | None:
        try:
            origin = _one(request.headers, "Origin")
            if not origin_allowed(origin, allowed):
                return connection.respond(403, "Origin not allowed\n")
            authorization = _one(request.headers, "Authorization")
            from_protocol = token_from_subprotocols(_protocols(request))
            if authorization is None and from_protocol is not None:
                authorization = f"Bearer {from_protocol}"
            query = single_valued(_query(request.path))
            if authorization is None and "access_token" not in query and not required:
                return None
            connection.tessera_auth = await guard.off_loop(  # type: ignore[attr-defined]
                lambda block: guard.authorize_request(
                    authorization,
                    query,
                    scopes,
                    allow_query=query_token,
                    count=False,
                    block=block,
                    allow_delegated=allow_delegated,
                )
            )
        except MiddlewareError as exc:
            return _refuse(connection, guard, exc)
        return None

    return process_request


def _refuse(connection: ServerConnection, guard: ResourceGuard, exc: MiddlewareError) -> Response:
    err = guard.error(exc)
    response = connection.respond(err.status, err.body.decode())
    for name, value in err.headers:
        response.headers[name] = value
    return response


def _query(path: str) -> list[tuple[str, str]]:
    from urllib.parse import parse_qsl, urlsplit

    return parse_qsl(urlsplit(path).query)


def select_app_protocol(
    *protocols: str,
) -> Callable[[ServerConnection, Sequence[str]], str | None]:
    """Echo the first of ``protocols`` the client offers (e.g. ``"wfm"``, ``"tessera.v1"``),
    never the ``bearer.<token>`` entry (that would leak it back)."""

    def select(connection: ServerConnection, subprotocols: Sequence[str]) -> str | None:
        offered = [p for p in subprotocols if not p.startswith(BEARER_PROTOCOL_PREFIX)]
        return next((p for p in protocols if p in offered), None)

    return select


def session_for(
    connection: ServerConnection,
    guard: ResourceGuard,
    *,
    codec: Codec | None = None,
    scopes: Iterable[str] = (),
    on_invalid: Literal["close", "downgrade"] = "close",
    clock: Callable[[], float] | None = None,
) -> WebSocketSession:
    """The session of a connection; signed in if ``guard_handshake`` verified a token.

    ``scopes``: what an in-band sign-in token must hold (give the handshake's, e.g.
    ``["ws:connect"]``). Use it as ``async with session:`` to enforce expiry and revocation.
    """
    auth: Authorized | None = getattr(connection, "tessera_auth", None)

    async def receive() -> str | bytes | None:
        try:
            return await connection.recv()
        except ConnectionClosed:
            return None

    async def close(code: int, reason: str) -> None:
        await connection.close(code, reason)

    return WebSocketSession(
        guard,
        auth.token if auth else None,
        send_text=connection.send,
        close=close,
        receive=receive,
        codec=codec,
        scopes=scopes,
        on_invalid=on_invalid,
        clock=clock,
    )


async def sign_in_first_message(
    connection: ServerConnection, session: WebSocketSession, *, timeout: float = 10.0
) -> bool:
    """The first message must sign in (``session.sign_in_first_message``); False: closed."""
    return await session.sign_in_first_message(timeout=timeout)
