"""Glue for the ``websockets`` library's asyncio server.

    serve(handler, host, port,
          process_request=guard_handshake(guard, origins=[...], scopes=["ws:connect"]),
          select_subprotocol=select_app_protocol("tessera.v1"))

The verified ``Authorized`` is then ``connection.tessera_auth``; make a session with
``session_for(connection, guard)``. A connection without a handshake token may instead
sign in with its first message: ``await sign_in_first_message(connection, guard)``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, Literal

from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from tessera_middleware.errors import InvalidRequest, MiddlewareError
from tessera_middleware.guard import Authorized, ResourceGuard, origin_allowed, single_valued
from tessera_middleware.ws import (
    AUTH_MESSAGE_OVERHEAD,
    BEARER_PROTOCOL_PREFIX,
    CLOSE_POLICY,
    WebSocketSession,
    parse_auth_message,
    token_from_subprotocols,
)


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
) -> Callable[[ServerConnection, Request], Awaitable[Response | None]]:
    """A ``process_request`` hook: check Origin, then the token (header or subprotocol).

    ``required=False`` lets token-less handshakes through for in-band sign-in. A coroutine:
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
                    authorization, query, scopes, allow_query=query_token, count=False, block=block
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
    protocol: str,
) -> Callable[[ServerConnection, Sequence[str]], str | None]:
    """Echo the app protocol, never the ``bearer.<token>`` entry (that would leak it back)."""

    def select(connection: ServerConnection, subprotocols: Sequence[str]) -> str | None:
        offered = [p for p in subprotocols if not p.startswith(BEARER_PROTOCOL_PREFIX)]
        return protocol if protocol in offered else None

    return select


def session_for(
    connection: ServerConnection,
    guard: ResourceGuard,
    *,
    on_invalid: Literal["close", "downgrade"] = "close",
    clock: Callable[[], float] | None = None,
) -> WebSocketSession:
    auth: Authorized | None = getattr(connection, "tessera_auth", None)

    async def send_json(event: Mapping[str, Any]) -> None:
        await connection.send(json.dumps(event))

    async def close(code: int, reason: str) -> None:
        await connection.close(code, reason)

    return WebSocketSession(
        guard,
        auth.token if auth else None,
        send_json=send_json,
        close=close,
        on_invalid=on_invalid,
        clock=clock,
    )


def _auth_limit(session: WebSocketSession) -> int:
    return session.guard.verifier.max_token_size + AUTH_MESSAGE_OVERHEAD


async def sign_in_first_message(
    connection: ServerConnection, session: WebSocketSession, *, timeout: float = 10.0
) -> bool:
    """Read ``{"type": "auth", "token": ...}``; on failure close with 1008 and return False."""
    try:
        raw = await asyncio.wait_for(connection.recv(), timeout)
        # Fail fast on size and shape before touching crypto.
        parse_auth_message(raw, _auth_limit(session))
        await session.sign_in(raw)
    except (TimeoutError, MiddlewareError) as exc:
        reason = exc.description if isinstance(exc, MiddlewareError) else "sign-in timed out"
        await connection.close(CLOSE_POLICY, reason[:120])
        return False
    await session.send({"type": "auth_ok"})
    return True
