"""Live order events over WebSocket, guarded by ``tessera_middleware.websockets_server``.

Sign in at the handshake (``Authorization: Bearer`` or the subprotocols
``["tessera.v1", "bearer.<token>"]``) or with a first message ``{"type": "auth", "token": ...}``.
Then, one JSON message at a time (each needs a valid token and counts against the app's
message rate):

    {"type": "subscribe", "channel": "orders"}      every new order, no owners (ws:connect)
    {"type": "subscribe", "channel": "my-orders"}   your own orders (ws:connect + orders:read)
    {"type": "unsubscribe", "channel": ...}
    {"type": "auth", "token": ...}                  a fresh token for the same user and app
    {"type": "ping"}

The connection is closed with 4401 when its token expires or is revoked.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from tessera_middleware.errors import InvalidRequest, InvalidToken, MiddlewareError
from tessera_middleware.guard import ResourceGuard
from tessera_middleware.websockets_server import guard_handshake, session_for, sign_in_first_message
from tessera_middleware.ws import WebSocketSession
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

log = logging.getLogger(__name__)

APP_PROTOCOL = "tessera.v1"
CHANNELS = {"orders": ("ws:connect",), "my-orders": ("ws:connect", "orders:read")}
MAX_MESSAGE = 16 * 1024


@dataclass(eq=False)
class Subscriber:
    connection: ServerConnection
    session: WebSocketSession
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
                    await sub.session.send({"type": "order", "channel": channel, "order": order})
                except ConnectionClosed:
                    break


def handshake(
    guard: ResourceGuard, origins: Iterable[str], *, allow_missing_origin: bool
) -> Callable[[ServerConnection, Request], Awaitable[Response | None]]:
    """Origin allow-list for browsers; clients that send no Origin (not browsers) may pass.

    Browsers always send Origin, and cross-site WebSocket hijacking needs a browser, so a
    missing Origin is allowed unless ``allow_missing_origin`` is False.
    """
    strict = guard_handshake(guard, scopes=["ws:connect"], origins=list(origins), required=False)
    lax = guard_handshake(guard, scopes=["ws:connect"], origins=None, required=False)

    async def process_request(connection: ServerConnection, request: Request) -> Response | None:
        # get_all: a repeated Origin must reach the strict check, not crash get().
        if allow_missing_origin and not request.headers.get_all("Origin"):
            return await lax(connection, request)
        return await strict(connection, request)

    return process_request


def _command(raw: str | bytes) -> dict[str, Any]:
    if len(raw) > MAX_MESSAGE:
        raise InvalidRequest("message too large")
    try:
        message = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise InvalidRequest("messages are JSON objects with a type") from exc
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise InvalidRequest("messages are JSON objects with a type")
    return message


async def _handle(sub: Subscriber, raw: str | bytes) -> None:
    session = sub.session
    message = _command(raw)
    kind = message["type"]
    if kind == "auth":
        await session.sign_in(raw)
        await session.send({"type": "auth_ok"})
        return
    if kind == "ping":
        await session.authorize()
        await session.send({"type": "pong"})
        return
    if kind not in ("subscribe", "unsubscribe"):
        raise InvalidRequest("unknown message type")
    channel = message.get("channel")
    if channel not in CHANNELS:
        raise InvalidRequest(f"unknown channel; choose one of: {', '.join(CHANNELS)}")
    if kind == "unsubscribe":
        await session.authorize()
        sub.channels.discard(channel)
        await session.send({"type": "unsubscribed", "channel": channel})
        return
    token = await session.authorize(*CHANNELS[channel])
    if channel == "my-orders" and token.is_machine:
        raise InvalidRequest("my-orders needs a user's token")
    sub.channels.add(channel)
    await session.send({"type": "subscribed", "channel": channel})


def make_handler(guard: ResourceGuard, hub: Hub) -> Callable[[ServerConnection], Any]:
    async def handler(connection: ServerConnection) -> None:
        session = session_for(connection, guard, on_invalid="close")
        if session.token is None and not await sign_in_first_message(connection, session):
            return
        sub = Subscriber(connection, session)
        hub.subscribers.add(sub)
        watcher = asyncio.create_task(session.watch())  # closes at expiry and on revocation
        try:
            async for raw in connection:
                try:
                    await _handle(sub, raw)
                except InvalidToken:
                    # A refused token (e.g. a refresh for another user): the client must
                    # reconnect rather than keep a half-trusted session.
                    if not session.closed:
                        await connection.close(4401, "sign in again")
                except MiddlewareError as exc:
                    await session.error_event(exc)
        except ConnectionClosed:
            pass
        finally:
            hub.subscribers.discard(sub)
            watcher.cancel()

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
