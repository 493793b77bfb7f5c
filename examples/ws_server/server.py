"""Live order events over WebSocket, guarded by ``tessera_middleware.websockets_server``.

Two protocols, chosen by the subprotocol the client offers:

* ``wfm`` (the marketplace's): ``{"route": "@wfm|...", "payload": ..., "id": "..."}`` frames,
  replies on the route plus ``:ok``/``:error`` with ``refId``;
* ``tessera.v1`` or none: JSON ``{"type": ...}`` messages.

| what                                  | wfm route                       | JSON type                 |
| ------------------------------------- | ------------------------------- | ------------------------- |
| sign in, or a fresh token (same user) | ``@wfm|cmd/auth/signIn`` {token} | ``auth`` {token}          |
| every new order, no owners            | ``@wfm|cmd/orders/subscribe``   | ``subscribe``             |
|   {"channel": "orders"} (ws:connect)  |                                 |                           |
| your own orders: {"channel":          | ``@wfm|cmd/orders/subscribe``   | ``subscribe``             |
|   "my-orders"} (+ orders:read)        |                                 |                           |
| stop                                  | ``@wfm|cmd/orders/unsubscribe`` | ``unsubscribe``           |
| liveness                              | ``@wfm|cmd/ping``               | ``ping``                  |
| pushed: an order                      | ``@wfm|event/orders/new``       | ``order``                 |
| pushed: the token was revoked/expired | ``@wfm|event/auth/revoked``,    | (closed with 4401)        |
|                                       | ``@wfm|event/auth/expired``     |                           |

Sign in at the handshake (``Authorization: Bearer`` or the subprotocol ``bearer.<token>``) or
with the first message. Each command needs a valid token and counts against the app's message
rate; the connection is closed with 4401 when its token expires or is revoked.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from tessera_middleware.codec import Codec, JsonCodec, Message, WfmCodec
from tessera_middleware.errors import InvalidRequest, MiddlewareError
from tessera_middleware.guard import ResourceGuard
from tessera_middleware.websockets_server import guard_handshake, session_for
from tessera_middleware.ws import WebSocketSession
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

log = logging.getLogger(__name__)

WFM_PROTOCOL = "wfm"
APP_PROTOCOL = "tessera.v1"
PROTOCOLS = (WFM_PROTOCOL, APP_PROTOCOL)  # the server's preference, for select_app_protocol
CHANNELS = {"orders": ("ws:connect",), "my-orders": ("ws:connect", "orders:read")}
MAX_MESSAGE = 16 * 1024
CONNECT_SCOPES = ("ws:connect",)


@dataclass(frozen=True)
class Dialect:
    """One protocol's words for the same commands and events."""

    codec: Codec
    commands: dict[str, str]  # route -> subscribe | unsubscribe | ping
    replies: dict[str, str]  # command -> the JSON reply type (wfm answers on route + ":ok")
    order_route: str

    async def reply(
        self, session: WebSocketSession, message: Message, command: str, payload: dict
    ) -> None:
        if isinstance(self.codec, WfmCodec):
            await session.send(f"{message.route}:ok", payload, ref=message.id)
        else:
            await session.send(self.replies[command], payload, ref=message.id)


WFM = Dialect(
    WfmCodec(MAX_MESSAGE),
    {
        "@wfm|cmd/orders/subscribe": "subscribe",
        "@wfm|cmd/orders/unsubscribe": "unsubscribe",
        "@wfm|cmd/ping": "ping",
    },
    {},
    "@wfm|event/orders/new",
)
JSON = Dialect(
    JsonCodec(MAX_MESSAGE),
    {"subscribe": "subscribe", "unsubscribe": "unsubscribe", "ping": "ping"},
    {"subscribe": "subscribed", "unsubscribe": "unsubscribed", "ping": "pong"},
    "order",
)


def dialect_for(subprotocol: str | None) -> Dialect:
    return WFM if subprotocol == WFM_PROTOCOL else JSON


@dataclass(eq=False)
class Subscriber:
    connection: ServerConnection
    session: WebSocketSession
    dialect: Dialect = JSON
    channels: set[str] = field(default_factory=set)


class Hub:
    """The open connections and what each subscribed to."""

    def __init__(self) -> None:
        self.subscribers: set[Subscriber] = set()

    async def publish(self, event: dict[str, Any]) -> None:
        """Fan one ``{"type": "order", "owner", "order"}`` event out to its subscribers."""
        order, owner = event.get("order"), event.get("owner")
        if not isinstance(order, dict):
            return
        for sub in list(self.subscribers):
            token = sub.session.token
            wants = [c for c in ("orders", "my-orders") if c in sub.channels]
            if not wants or token is None or not await sub.session.enforce():
                continue  # enforce() closes a connection whose token just died
            for channel in wants:
                if channel == "my-orders" and token.subject != owner:
                    continue
                try:
                    await sub.session.send(
                        sub.dialect.order_route, {"channel": channel, "order": order}
                    )
                except ConnectionClosed:
                    break


def handshake(
    guard: ResourceGuard, origins: Iterable[str], *, allow_missing_origin: bool
) -> Callable[[ServerConnection, Request], Awaitable[Response | None]]:
    """Origin allow-list for browsers; clients that send no Origin (not browsers) may pass.

    Browsers always send Origin, and cross-site WebSocket hijacking needs a browser, so a
    missing Origin is allowed unless ``allow_missing_origin`` is False.
    """
    strict = guard_handshake(guard, scopes=CONNECT_SCOPES, origins=list(origins), required=False)
    lax = guard_handshake(guard, scopes=CONNECT_SCOPES, origins=None, required=False)

    async def process_request(connection: ServerConnection, request: Request) -> Response | None:
        # get_all: a repeated Origin must reach the strict check, not crash get().
        if allow_missing_origin and not request.headers.get_all("Origin"):
            return await lax(connection, request)
        return await strict(connection, request)

    return process_request


async def _handle(sub: Subscriber, message: Message) -> None:
    session, dialect = sub.session, sub.dialect
    command = dialect.commands.get(message.route)
    if command is None:
        raise InvalidRequest("unknown message type")
    if command == "ping":
        await session.authorize()
        await dialect.reply(session, message, command, {})
        return
    payload = message.payload if isinstance(message.payload, dict) else {}
    channel = payload.get("channel")
    if channel not in CHANNELS:
        raise InvalidRequest(f"unknown channel; choose one of: {', '.join(CHANNELS)}")
    if command == "unsubscribe":
        await session.authorize()
        sub.channels.discard(channel)
        await dialect.reply(session, message, command, {"channel": channel})
        return
    token = await session.authorize(*CHANNELS[channel])
    if channel == "my-orders" and token.is_machine:
        raise InvalidRequest("my-orders needs a user's token")
    sub.channels.add(channel)
    await dialect.reply(session, message, command, {"channel": channel})


def make_handler(guard: ResourceGuard, hub: Hub) -> Callable[[ServerConnection], Any]:
    async def handler(connection: ServerConnection) -> None:
        dialect = dialect_for(connection.subprotocol)
        session = session_for(
            connection, guard, codec=dialect.codec, scopes=CONNECT_SCOPES, on_invalid="close"
        )
        if session.token is None and not await session.sign_in_first_message():
            return
        sub = Subscriber(connection, session, dialect)
        hub.subscribers.add(sub)
        try:
            # The session closes at expiry and on revocation; sign-ins (a fresh token, or a
            # refused one, which closes with 4401) are handled by messages() itself.
            async with session:
                async for message in session.messages():
                    try:
                        await _handle(sub, message)
                    except MiddlewareError as exc:
                        await session.error_event(exc, message)
        except ConnectionClosed:
            pass
        finally:
            hub.subscribers.discard(sub)

    return handler


async def follow_redis(hub: Hub, redis_url: str, channel: str) -> None:
    """Relay the API's order events (Redis pub/sub) to the hub, reconnecting on errors."""
    import redis.asyncio as aioredis

    while True:
        client = aioredis.Redis.from_url(redis_url)
        try:
            async with client.pubsub(ignore_subscribe_messages=True) as pubsub:
                await pubsub.subscribe(channel)
                log.info("following order events on %s", channel)
                async for message in pubsub.listen():
                    if message.get("type") != "message":
                        continue
                    try:
                        event = json.loads(message["data"])
                    except ValueError:
                        log.warning("ignoring an undecodable order event")
                        continue
                    if isinstance(event, dict):
                        await hub.publish(event)
        except (OSError, aioredis.RedisError) as exc:
            log.warning("order events unavailable (%s); retrying in 2 s", exc)
            await asyncio.sleep(2)
        finally:
            await client.aclose()
