"""One leeway for HTTP and WebSocket alike (issue 12.13; docs/security.md#27).

RFC 7519 4.1.4 allows "some small leeway" on ``exp`` for clock skew. Before, the HTTP adapters
accepted a token ~30 s after ``exp`` while WebSocket sessions closed at ``exp`` exactly: a
token was dead on one path and alive on the other. Now ``TokenVerifier.leeway`` (5 s by
default, at most 60) decides both.
"""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from freezegun import freeze_time
from tessera_middleware import TokenVerifier
from tessera_middleware.testing import AUDIENCE, ISSUER, Signer
from tessera_middleware.verifier import DEFAULT_LEEWAY
from tessera_middleware.ws import CLOSE_UNAUTHORIZED
from test_websockets import ORIGIN, ws_server_ctx
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

NOW = "2030-01-01 12:00:00"


def test_issue12_13_default_leeway_is_a_few_seconds() -> None:
    assert DEFAULT_LEEWAY == 5
    assert TokenVerifier(ISSUER, AUDIENCE).leeway == DEFAULT_LEEWAY


@pytest.mark.parametrize("leeway", [-1, 61, 3600])
def test_issue12_13_leeway_outside_zero_to_a_minute_is_refused(leeway: float) -> None:
    with pytest.raises(ValueError, match="leeway"):
        TokenVerifier(ISSUER, AUDIENCE, leeway=leeway)


def test_issue12_13_http_refuses_a_token_once_exp_and_leeway_have_passed(
    guard, flask_client, es256
) -> None:
    client = flask_client
    leeway = guard.verifier.leeway
    assert leeway == DEFAULT_LEEWAY  # not the 30 s the HTTP adapters allowed before
    with freeze_time(NOW) as frozen:
        token = es256.token(exp=int(time.time()) + 60)
        headers = {"Authorization": f"Bearer {token}"}
        assert client.get("/orders", headers=headers).status_code == 200
        frozen.tick(60 + leeway - 1)
        assert client.get("/orders", headers=headers).status_code == 200  # cached, in leeway
        frozen.tick(1)
        resp = client.get("/orders", headers=headers)
        assert resp.status_code == 401 and "expired" in resp.headers["WWW-Authenticate"]


def test_issue12_13_websocket_closes_at_exp_plus_the_same_leeway(guard, es256: Signer) -> None:
    leeway = guard.verifier.leeway

    async def scenario() -> None:
        async with ws_server_ctx(guard) as (url, clock):
            token = es256.token(scope="ws:connect orders:read")
            exp = json.loads(__import__("base64").urlsafe_b64decode(token.split(".")[1] + "=="))[
                "exp"
            ]
            headers = {"Authorization": f"Bearer {token}"}
            async with connect(url, origin=ORIGIN, additional_headers=headers) as ws:
                clock.now = exp  # expired, but within the leeway: HTTP still accepts it
                await ws.send(json.dumps({"type": "cmd", "id": 1, "scope": "orders:read"}))
                assert json.loads(await ws.recv())["type"] == "ok"
                clock.now = exp + leeway - 0.5
                await ws.send(json.dumps({"type": "cmd", "id": 2, "scope": "orders:read"}))
                assert json.loads(await ws.recv())["type"] == "ok"
                clock.now = exp + leeway  # where HTTP starts answering 401
                await ws.send(json.dumps({"type": "cmd", "id": 3, "scope": "orders:read"}))
                with pytest.raises(ConnectionClosed) as info:
                    await ws.recv()
                assert info.value.rcvd is not None
                assert info.value.rcvd.code == CLOSE_UNAUTHORIZED

    asyncio.run(scenario())


def test_issue12_13_session_and_verifier_share_one_expiry_rule(guard, es256: Signer) -> None:
    token = guard.verifier.verify(es256.token())
    edge = token.expires_at + guard.verifier.leeway
    assert not guard.verifier.is_expired(token, edge - 0.001)
    assert guard.verifier.is_expired(token, edge)
