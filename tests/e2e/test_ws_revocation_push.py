"""End to end: an open WebSocket session on the middleware receives its revoked event and close
frame when its token is revoked at Tessera, pushed over the Redis stream and, separately, over
Server-Sent Events (issue 14; docs/revocation-events.md).

Tessera runs on a real socket with a throwaway redis-server of its own; the token comes from the
real token endpoint and is revoked through the real revocation endpoint (RFC 7009). The
WebSocket server is a `websockets` server built on the middleware (handshake token, `wfm`
codec, `WebSocketSession`: bench/revocation_latency.py's `WsRevocationServer`), its
RevocationState fed by the channel under test, found through Tessera's discovery document (no
stream key or URL given). Tessera's feed says to poll every 5 s, so a close within 1 s came
through the pushed channel.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from tessera_middleware import RevocationFeedPoller, TokenVerifier
from tessera_middleware.guard import ResourceGuard
from tessera_middleware.redis_stream import RedisRevocationStream
from tessera_middleware.sse import SseRevocationStream

from bench.revocation_latency import RevokedWatch, WsRevocationServer, open_session
from tests.e2e.test_revocation_push import Tessera, within

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def tessera(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tessera]:
    running = Tessera(tmp_path_factory.mktemp("ws-push"))
    try:
        yield running
    finally:
        running.close()


def follower(channel: str, tessera: Tessera, poller: RevocationFeedPoller) -> Any:
    if channel == "redis":
        return RedisRevocationStream(poller.state, poller, tessera.redis.url)
    return SseRevocationStream(poller.state, poller)


def following(channel: str, running: Any) -> bool:
    if channel == "redis":
        return running.following.is_set()
    return running.connected.is_set() and running.last_id is not None


@pytest.fixture(params=["redis", "sse"])
def ws_server(request: pytest.FixtureRequest, tessera: Tessera) -> Iterator[WsRevocationServer]:
    poller = tessera.poller()
    running = follower(request.param, tessera, poller)
    running.start()
    try:
        within(10, lambda: following(request.param, running))
        if request.param == "redis":  # the key came from discovery, and is the one written
            assert running.key == tessera.outbox.key
        audience = jwt.decode(tessera.token(), options={"verify_signature": False})["aud"]
        verifier = TokenVerifier(tessera.issuer, audience, revocations=poller.state)
        with WsRevocationServer(ResourceGuard(verifier, realm="e2e")) as server:
            yield server
    finally:
        running.stop()


def test_a_revoked_token_s_websocket_gets_the_revoked_event_and_a_4401_close(
    tessera: Tessera, ws_server: WsRevocationServer
):
    token, bystander_token = tessera.token(), tessera.token()
    watch = RevokedWatch(open_session(ws_server.url, token))
    bystander = open_session(ws_server.url, bystander_token)  # same app, another token
    try:
        tessera.revoke(token)
        arrived, closed = watch.result(time.perf_counter())
        assert watch.event is not None and arrived <= closed
        assert watch.event["payload"] == {"reason": "the token has been revoked"}
        assert closed < 1.0, f"closed {closed:.3f} s after the revocation returned"
        bystander.send('{"route": "@wfm|cmd/ping", "payload": {}, "id": "2"}')
        assert '"@wfm|cmd/ping:ok"' in str(bystander.recv(timeout=5))
    finally:
        bystander.close()


def test_a_websocket_cannot_open_with_a_token_revoked_before(
    tessera: Tessera, ws_server: WsRevocationServer
):
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    token = tessera.token()
    tessera.revoke(token)
    headers = {"Authorization": f"Bearer {token}"}
    deadline = time.monotonic() + 1.0
    while True:  # the push may still be on its way: retry for at most the second allowed
        try:  # accepted before the push arrived: that session is closed by it, try again
            connect(ws_server.url, additional_headers=headers, legacy=True).close()
        except InvalidStatus as refused:
            assert refused.response.status_code == 401
            assert b"the token has been revoked" in refused.response.body
            break
        assert time.monotonic() < deadline, "a revoked token opened a session after 1 s"
        time.sleep(0.02)  # waiting on the pushed channel
