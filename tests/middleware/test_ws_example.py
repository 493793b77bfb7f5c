"""The example WebSocket server (examples/ws_server) speaking wfm and JSON on loopback:
sign-in in band, subscriptions, order events, and the revoked event before the 4401 close.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

from tessera_middleware.testing import Signer
from tessera_middleware.websockets_server import select_app_protocol
from websockets.asyncio.client import connect
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

from examples.ws_server.server import PROTOCOLS, Hub, handshake, make_handler


@contextlib.asynccontextmanager
async def example_server(guard) -> AsyncIterator[tuple[str, Hub]]:
    hub = Hub()
    async with serve(
        make_handler(guard, hub),
        "127.0.0.1",
        0,
        process_request=handshake(guard, [], allow_missing_origin=True),
        select_subprotocol=select_app_protocol(*PROTOCOLS),
    ) as server:
        yield f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}", hub


async def recv(ws) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), 5))


def wfm(route: str, payload: object, ident: str) -> str:
    return json.dumps({"route": route, "payload": payload, "id": ident})


def test_example_speaks_wfm_from_sign_in_to_revoked(guard, es256: Signer) -> None:
    token = es256.token(scope="ws:connect orders:read", jti="ex-1")

    async def scenario() -> None:
        async with (
            example_server(guard) as (url, hub),
            connect(url, subprotocols=["wfm"]) as ws,
        ):
            assert ws.subprotocol == "wfm"
            await ws.send(wfm("@wfm|cmd/auth/signIn", {"token": token}, "1"))
            assert (await recv(ws))["route"] == "@wfm|cmd/auth/signIn:ok"
            for ident, channel in (("2", "orders"), ("3", "my-orders")):
                await ws.send(wfm("@wfm|cmd/orders/subscribe", {"channel": channel}, ident))
                reply = await recv(ws)
                assert reply == {
                    "route": "@wfm|cmd/orders/subscribe:ok",
                    "payload": {"channel": channel},
                    "refId": ident,
                }
            await ws.send(wfm("@wfm|cmd/orders/subscribe", {"channel": "nope"}, "4"))
            refused = await recv(ws)
            assert refused["route"] == "@wfm|cmd/orders/subscribe:error"
            assert refused["payload"]["error"] == "invalid_request"
            await hub.publish({"type": "order", "owner": "user-1", "order": {"id": 7}})
            events = [await recv(ws), await recv(ws)]
            assert {e["route"] for e in events} == {"@wfm|event/orders/new"}
            assert {e["payload"]["channel"] for e in events} == {"orders", "my-orders"}
            guard.revocations.apply({"revoked_tokens": [{"jti": "ex-1", "exp": 4e9}]})
            assert (await recv(ws))["route"] == "@wfm|event/auth/revoked"
            try:
                await asyncio.wait_for(ws.recv(), 5)
            except ConnectionClosed as closed:
                assert closed.rcvd is not None and closed.rcvd.code == 4401
            else:
                raise AssertionError("the connection stayed open after the revocation")

    asyncio.run(scenario())


def test_example_still_speaks_json_without_the_wfm_subprotocol(guard, es256: Signer) -> None:
    token = es256.token(scope="ws:connect")

    async def scenario() -> None:
        async with example_server(guard) as (url, _hub), connect(url) as ws:
            await ws.send(json.dumps({"type": "auth", "token": token}))
            assert await recv(ws) == {"type": "auth_ok"}
            await ws.send(json.dumps({"type": "ping"}))
            assert await recv(ws) == {"type": "pong"}
            await ws.send(json.dumps({"type": "subscribe", "channel": "orders"}))
            assert await recv(ws) == {"type": "subscribed", "channel": "orders"}

    asyncio.run(scenario())
