"""WebSockets: handshake auth, Origin allow-list, expiry/revocation, per-command scopes.

docs/security.md#27.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket, WebSocketDisconnect
from tessera_middleware import InsufficientScope, InvalidToken, RateLimited
from tessera_middleware.asgi import TesseraASGIMiddleware
from tessera_middleware.testing import Signer
from tessera_middleware.websockets_server import (
    guard_handshake,
    select_app_protocol,
    session_for,
)
from tessera_middleware.ws import CLOSE_UNAUTHORIZED
from websockets.asyncio.client import connect
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed, InvalidStatus

ORIGIN = "https://app.tessera.test"


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _make_handler(guard, clock, on_invalid="close", in_band=False, codec=None):
    async def handler(connection) -> None:
        session = session_for(
            connection,
            guard,
            on_invalid=on_invalid,
            clock=clock,
            codec=codec,
            scopes=["ws:connect"],
        )
        if in_band and not await session.sign_in_first_message():
            return
        async with session:  # expiry timer and revocation watch
            async for message in session.messages():
                try:
                    await session.authorize(message.payload["scope"])
                    await session.send("ok", {"id": message.payload["id"]})
                except (InsufficientScope, InvalidToken, RateLimited) as exc:
                    await session.error_event(exc)

    return handler


def ws_token(signer: Signer, **claims) -> str:
    return signer.token(scope="ws:connect orders:read", **claims)


def run(coro):
    return asyncio.run(coro)


def test_checklist_27_ws_header_and_subprotocol_auth(guard, es256: Signer) -> None:
    async def scenario() -> None:
        async with ws_server_ctx(guard) as (url, clock):
            clock.now = 0
            token = ws_token(es256)
            headers = {"Authorization": f"Bearer {token}"}
            async with connect(url, origin=ORIGIN, additional_headers=headers) as ws:
                await ws.send(json.dumps({"type": "cmd", "id": 1, "scope": "orders:read"}))
                assert json.loads(await ws.recv()) == {"type": "ok", "id": 1}
                await ws.send(json.dumps({"type": "cmd", "id": 2, "scope": "orders:write"}))
                error = json.loads(await ws.recv())
                assert error["error"] == "insufficient_scope" and error["scope"] == "orders:write"
            protocols = ["tessera.v1", f"bearer.{token}"]
            async with connect(url, origin=ORIGIN, subprotocols=protocols) as ws:
                assert ws.subprotocol == "tessera.v1"  # the token is never echoed back
                await ws.send(json.dumps({"type": "cmd", "id": 3, "scope": "orders:read"}))
                assert json.loads(await ws.recv())["type"] == "ok"

    run(scenario())


def ws_server_ctx(guard, **options):
    import contextlib

    @contextlib.asynccontextmanager
    async def ctx():
        clock = Clock(0)
        in_band = options.get("in_band", False)
        handler = _make_handler(guard, clock, options.get("on_invalid", "close"), in_band)
        hook = guard_handshake(
            guard,
            scopes=["ws:connect"],
            origins=[ORIGIN],
            required=not in_band,
            query_token=options.get("query_token", False),
        )
        async with serve(
            handler,
            "127.0.0.1",
            0,
            process_request=hook,
            select_subprotocol=select_app_protocol("tessera.v1"),
        ) as server:
            port = server.sockets[0].getsockname()[1]
            yield f"ws://127.0.0.1:{port}/live", clock

    return ctx()


def test_checklist_27_ws_origin_allow_list(guard, es256: Signer) -> None:
    async def scenario() -> None:
        async with ws_server_ctx(guard) as (url, _clock):
            headers = {"Authorization": f"Bearer {ws_token(es256)}"}
            with pytest.raises(InvalidStatus) as info:
                async with connect(url, origin="https://evil.test", additional_headers=headers):
                    pass
            assert info.value.response.status_code == 403

    run(scenario())


def test_checklist_27_ws_handshake_without_token_or_scope_refused(guard, es256: Signer) -> None:
    async def scenario() -> None:
        async with ws_server_ctx(guard) as (url, _clock):
            with pytest.raises(InvalidStatus) as info:
                async with connect(url, origin=ORIGIN):
                    pass
            assert info.value.response.status_code == 401
            headers = {"Authorization": f"Bearer {es256.token(scope='orders:read')}"}
            with pytest.raises(InvalidStatus) as info:
                async with connect(url, origin=ORIGIN, additional_headers=headers):
                    pass
            assert info.value.response.status_code == 403

    run(scenario())


def test_checklist_24_ws_query_token_only_when_enabled(guard, es256: Signer) -> None:
    async def scenario() -> None:
        token = ws_token(es256)
        async with ws_server_ctx(guard) as (url, _clock):
            with pytest.raises(InvalidStatus) as info:
                async with connect(f"{url}?access_token={token}", origin=ORIGIN):
                    pass
            assert info.value.response.status_code == 400
        async with (
            ws_server_ctx(guard, query_token=True) as (url, _clock),
            connect(f"{url}?access_token={token}", origin=ORIGIN) as ws,
        ):
            await ws.send(json.dumps({"type": "cmd", "id": 1, "scope": "orders:read"}))
            assert json.loads(await ws.recv())["type"] == "ok"

    run(scenario())


def test_checklist_27_ws_closed_at_expiry(guard, es256: Signer) -> None:
    async def scenario() -> None:
        async with ws_server_ctx(guard) as (url, clock):
            token = ws_token(es256)
            expires = json.loads(
                __import__("base64").urlsafe_b64decode(token.split(".")[1] + "==")
            )["exp"]
            clock.now = expires - 10
            headers = {"Authorization": f"Bearer {token}"}
            async with connect(url, origin=ORIGIN, additional_headers=headers) as ws:
                await ws.send(json.dumps({"type": "cmd", "id": 1, "scope": "orders:read"}))
                assert json.loads(await ws.recv())["type"] == "ok"
                clock.now = expires + guard.verifier.leeway  # lifetime and leeway are over
                await ws.send(json.dumps({"type": "cmd", "id": 2, "scope": "orders:read"}))
                with pytest.raises(ConnectionClosed) as info:
                    await ws.recv()
                assert info.value.rcvd.code == CLOSE_UNAUTHORIZED

    run(scenario())


def test_checklist_27_ws_closed_on_revocation_without_traffic(
    guard, es256: Signer, revocations
) -> None:
    async def scenario() -> None:
        async with ws_server_ctx(guard) as (url, _clock):
            headers = {"Authorization": f"Bearer {ws_token(es256, jti='live-1')}"}
            async with connect(url, origin=ORIGIN, additional_headers=headers) as ws:
                await ws.send(json.dumps({"type": "cmd", "id": 1, "scope": "orders:read"}))
                assert json.loads(await ws.recv())["type"] == "ok"  # watcher is running
                revocations.apply(
                    {"full": False, "revoked_tokens": [{"jti": "live-1", "exp": 4e9}]}
                )
                with pytest.raises(ConnectionClosed) as info:
                    await ws.recv()
                assert info.value.rcvd.code == CLOSE_UNAUTHORIZED

    run(scenario())


def test_checklist_27_ws_revoked_event_and_downgrade_then_in_band_sign_in(
    guard, es256: Signer, revocations
) -> None:
    async def scenario() -> None:
        async with (
            ws_server_ctx(guard, on_invalid="downgrade", in_band=True) as (url, _c),
            connect(url, origin=ORIGIN) as ws,
        ):
            await ws.send(json.dumps({"type": "auth", "token": ws_token(es256, jti="d-1")}))
            assert json.loads(await ws.recv()) == {"type": "auth_ok"}
            revocations.apply({"full": False, "revoked_tokens": [{"jti": "d-1", "exp": 4e9}]})
            event = json.loads(await ws.recv())
            assert event["type"] == "revoked"
            await ws.send(json.dumps({"type": "cmd", "id": 1, "scope": "orders:read"}))
            assert json.loads(await ws.recv())["error"] == "invalid_token"

    run(scenario())


def test_checklist_27_ws_in_band_sign_in_rejects_bad_first_message(guard) -> None:
    async def scenario() -> None:
        async with (
            ws_server_ctx(guard, in_band=True) as (url, _c),
            connect(url, origin=ORIGIN) as ws,
        ):
            await ws.send(json.dumps({"type": "hello"}))
            with pytest.raises(ConnectionClosed) as info:
                await ws.recv()
            assert info.value.rcvd.code == 1008

    run(scenario())


def test_checklist_27_ws_messages_rate_limited_per_app(guard, es256: Signer) -> None:
    async def scenario() -> None:
        async with ws_server_ctx(guard) as (url, _clock):
            headers = {"Authorization": f"Bearer {ws_token(es256)}"}
            async with connect(url, origin=ORIGIN, additional_headers=headers) as ws:
                replies = []
                for i in range(12):  # the handshake spent one of the 10-request burst
                    await ws.send(json.dumps({"type": "cmd", "id": i, "scope": "orders:read"}))
                    replies.append(json.loads(await ws.recv()))
                kinds = [r.get("error", r["type"]) for r in replies]
                assert kinds == ["ok"] * 9 + ["rate_limited"] * 3
                assert replies[-1]["retry_after"] >= 1

    run(scenario())


def test_asgi_websocket_handshake(guard, es256: Signer) -> None:
    async def live(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_json({"sub": websocket.scope["state"]["access_token"].subject})
        await websocket.close()

    app = TesseraASGIMiddleware(
        Starlette(routes=[WebSocketRoute("/live", live)]),
        guard,
        scopes_for=lambda m, p: ["ws:connect"],
        websocket_origins=[ORIGIN],
    )
    client = TestClient(app)
    headers = {"Authorization": f"Bearer {ws_token(es256)}", "Origin": ORIGIN}
    with client.websocket_connect("/live", headers=headers) as ws:
        assert ws.receive_json() == {"sub": "user-1"}
    with client.websocket_connect(
        "/live",
        subprotocols=["tessera.v1", f"bearer.{ws_token(es256)}"],
        headers={"Origin": ORIGIN},
    ) as ws:
        assert ws.receive_json() == {"sub": "user-1"}
    for bad in ({"Origin": ORIGIN}, {**headers, "Origin": "https://evil.test"}):
        with (
            pytest.raises(WebSocketDisconnect) as info,
            client.websocket_connect("/live", headers=bad),
        ):
            pass
        assert info.value.code == 1008
