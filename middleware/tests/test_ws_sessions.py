"""The WebSocket session lifecycle on a real ``websockets`` server on loopback, wfm codec:
in-band sign-in, revocation and expiry without traffic, re-authentication, the stale rule.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

import pytest
from tessera_middleware.codec import WfmCodec
from tessera_middleware.testing import Signer
from tessera_middleware.websockets_server import guard_handshake, select_app_protocol, session_for
from tessera_middleware.ws import CLOSE_UNAUTHORIZED, SessionWatcher
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed
from wshelpers import ORIGIN, ShiftedClock, serve_session


@contextlib.asynccontextmanager
async def wfm_server(guard, clock, on_invalid="close") -> AsyncIterator[str]:
    async def handler(connection) -> None:
        session = session_for(
            connection,
            guard,
            codec=WfmCodec(),
            scopes=["ws:connect"],
            on_invalid=on_invalid,
            clock=clock,
        )
        await serve_session(session)

    hook = guard_handshake(guard, scopes=["ws:connect"], origins=[ORIGIN], required=False)
    async with serve(
        handler, "127.0.0.1", 0, process_request=hook, select_subprotocol=select_app_protocol("wfm")
    ) as server:
        yield f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/socket"


def wfm(route: str, payload: object = None, ident: str | None = None) -> str:
    return json.dumps({"route": route, "payload": payload, "id": ident})


async def recv(ws: ClientConnection) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), 5))


async def closed_code(ws: ClientConnection) -> int:
    with pytest.raises(ConnectionClosed) as info:
        await asyncio.wait_for(ws.recv(), 5)
    assert info.value.rcvd is not None
    return info.value.rcvd.code


async def sign_in(ws: ClientConnection, token: str, ident: str = "s1") -> dict:
    await ws.send(wfm("@wfm|cmd/auth/signIn", {"token": token}, ident))
    return await recv(ws)


def token(signer: Signer, **claims) -> str:
    return signer.token(scope="ws:connect orders:read orders:write", **claims)


def test_wfm_sign_in_in_band_then_revoked_event_and_close(guard, es256, revocations) -> None:
    async def scenario() -> None:
        async with (
            wfm_server(guard, ShiftedClock()) as url,
            connect(url, origin=ORIGIN, subprotocols=["wfm"]) as ws,
        ):
            assert ws.subprotocol == "wfm"
            reply = await sign_in(ws, token(es256, jti="w-1"))
            assert reply["route"] == "@wfm|cmd/auth/signIn:ok" and reply["refId"] == "s1"
            assert reply["payload"]["sub"] == "user-1"
            await ws.send(wfm("@wfm|cmd/orders/list", {"scope": "orders:read"}, "c1"))
            assert (await recv(ws))["route"] == "@wfm|cmd/orders/list:ok"
            revocations.apply({"full": False, "revoked_tokens": [{"jti": "w-1", "exp": 4e9}]})
            event = await recv(ws)  # pushed, with no client traffic
            assert event["route"] == "@wfm|event/auth/revoked"
            assert event["payload"]["reason"] == "the token has been revoked"
            assert await closed_code(ws) == CLOSE_UNAUTHORIZED

    asyncio.run(scenario())


def test_wfm_expired_event_and_close_at_exp_plus_leeway_without_traffic(guard, es256) -> None:
    clock = ShiftedClock()

    async def scenario() -> None:
        raw = token(es256)
        access = guard.verifier.verify(raw)
        clock.expire_in(0.3, access.expires_at, guard.verifier.leeway)
        headers = {"Authorization": f"Bearer {raw}"}
        async with (
            wfm_server(guard, clock) as url,
            connect(url, origin=ORIGIN, subprotocols=["wfm"], additional_headers=headers) as ws,
        ):
            await ws.send(wfm("@wfm|cmd/ping", None, "p"))
            assert (await recv(ws))["route"] == "@wfm|cmd/ping:ok"
            assert (await recv(ws))["route"] == "@wfm|event/auth/expired"
            assert await closed_code(ws) == CLOSE_UNAUTHORIZED

    asyncio.run(scenario())


def test_reauthentication_replaces_the_token_and_its_expiry(guard, es256, revocations) -> None:
    clock = ShiftedClock()

    async def scenario() -> None:
        first = token(es256, jti="old")
        old = guard.verifier.verify(first)
        async with (
            wfm_server(guard, clock) as url,
            connect(url, origin=ORIGIN, subprotocols=["wfm"]) as ws,
        ):
            await sign_in(ws, first)
            fresh = token(es256, jti="new", exp=int(old.expires_at) + 3600)
            assert (await sign_in(ws, fresh, "s2"))["refId"] == "s2"
            # The old token's expiry and revocation no longer concern the session.
            clock.expire_in(-1, old.expires_at, guard.verifier.leeway)
            revocations.apply({"full": False, "revoked_tokens": [{"jti": "old", "exp": 4e9}]})
            await ws.send(wfm("@wfm|cmd/orders/list", {"scope": "orders:read"}, "c1"))
            assert (await recv(ws))["route"] == "@wfm|cmd/orders/list:ok"
            # Another user's token is refused and ends the session.
            reply = await sign_in(ws, token(es256, sub="user-2"), "s3")
            assert reply["route"] == "@wfm|cmd/auth/signIn:error"
            assert reply["payload"]["error"] == "invalid_token"
            assert await closed_code(ws) == CLOSE_UNAUTHORIZED

    asyncio.run(scenario())


def test_in_band_sign_in_needs_the_connect_scope(guard, es256) -> None:
    async def scenario() -> None:
        async with (
            wfm_server(guard, ShiftedClock()) as url,
            connect(url, origin=ORIGIN, subprotocols=["wfm"]) as ws,
        ):
            reply = await sign_in(ws, es256.token(scope="orders:read"))
            assert reply["payload"]["error"] == "insufficient_scope"
            assert await closed_code(ws) == 1008

    asyncio.run(scenario())


def test_stale_revocation_data_pauses_writes_not_reads(guard, es256, revocations) -> None:
    async def scenario() -> None:
        async with (
            wfm_server(guard, ShiftedClock()) as url,
            connect(url, origin=ORIGIN, subprotocols=["wfm"]) as ws,
        ):
            await sign_in(ws, token(es256))
            revocations.last_sync -= revocations.max_staleness + 1  # the feed went quiet
            await ws.send(wfm("@wfm|cmd/orders/create", {"scope": "orders:write"}, "w"))
            refused = await recv(ws)
            assert refused["route"] == "@wfm|cmd/orders/create:error"
            assert refused["payload"]["error"] == "temporarily_unavailable"
            await ws.send(wfm("@wfm|cmd/orders/list", {"scope": "orders:read"}, "r"))
            assert (await recv(ws))["route"] == "@wfm|cmd/orders/list:ok"
            revocations.mark_synced()
            await ws.send(wfm("@wfm|cmd/orders/create", {"scope": "orders:write"}, "w2"))
            assert (await recv(ws))["route"] == "@wfm|cmd/orders/create:ok"

    asyncio.run(scenario())


def test_downgrade_keeps_the_connection_until_a_new_sign_in(guard, es256, revocations) -> None:
    async def scenario() -> None:
        async with (
            wfm_server(guard, ShiftedClock(), on_invalid="downgrade") as url,
            connect(url, origin=ORIGIN, subprotocols=["wfm"]) as ws,
        ):
            await sign_in(ws, token(es256, jti="d-1"))
            revocations.apply({"full": False, "revoked_tokens": [{"jti": "d-1", "exp": 4e9}]})
            assert (await recv(ws))["route"] == "@wfm|event/auth/revoked"
            await ws.send(wfm("@wfm|cmd/orders/list", {"scope": "orders:read"}, "c"))
            assert (await recv(ws))["payload"]["error"] == "invalid_token"
            assert (await sign_in(ws, token(es256), "s2"))["route"] == "@wfm|cmd/auth/signIn:ok"
            await ws.send(wfm("@wfm|cmd/orders/list", {"scope": "orders:read"}, "c2"))
            assert (await recv(ws))["route"] == "@wfm|cmd/orders/list:ok"

    asyncio.run(scenario())


def test_one_revocation_listener_per_loop_and_none_left_after(guard, es256, revocations) -> None:
    async def scenario() -> None:
        before = len(revocations._listeners)
        async with wfm_server(guard, ShiftedClock()) as url:
            clients = [await connect(url, origin=ORIGIN, subprotocols=["wfm"]) for _ in range(5)]
            for ws in clients:
                await sign_in(ws, token(es256))
            assert len(revocations._listeners) == before + 1
            for ws in clients:
                await ws.close()
            await asyncio.wait_for(_until(lambda: not SessionWatcher._registry), 5)
        assert len(revocations._listeners) == before

    asyncio.run(scenario())


async def _until(predicate) -> None:
    while not predicate():
        await asyncio.sleep(0.01)


def test_suspending_an_app_ends_only_its_sessions(guard, es256, revocations) -> None:
    async def scenario() -> None:
        async with wfm_server(guard, ShiftedClock()) as url:
            mine = await connect(url, origin=ORIGIN, subprotocols=["wfm"])
            other = await connect(url, origin=ORIGIN, subprotocols=["wfm"])
            await sign_in(mine, token(es256, client_id="app-gone"))
            await sign_in(other, token(es256, client_id="app-kept"))
            revocations.apply({"full": False, "suspended_clients": ["app-gone"]})
            event = await recv(mine)
            assert event["payload"]["reason"] == "the app has been suspended"
            assert await closed_code(mine) == CLOSE_UNAUTHORIZED
            await other.send(wfm("@wfm|cmd/orders/list", {"scope": "orders:read"}, "c"))
            assert (await recv(other))["route"] == "@wfm|cmd/orders/list:ok"
            await other.close()

    asyncio.run(scenario())
