"""Revocation latency end to end: from the moment the revoking call returns to the first API
request the resource server rejects, and to an open WebSocket session receiving its revoked
event and close frame, over each channel (bench/README.md). Target: p99 under 250 ms.

    .venv/bin/python -m bench.revocation_latency                   # redis and sse, 200 trials
    .venv/bin/python -m bench.revocation_latency --channels poll --trials 20   # the old way
    .venv/bin/python -m bench.revocation_latency --channels sse --tessera-without-redis \
        --second-instance     # SSE from another instance than the revoking one, no Redis

Tessera runs as in production (`python -m idp.serving`, granian, one worker per core) on a
fresh SQLite file with a redis-server of its own on a free port (the shared one is never
touched). The resource server is a small WSGI API in this process, on werkzeug's threaded
server, verifying tokens with tessera_middleware.TokenVerifier against a RevocationState fed by
the channel under test. Next to it, in a thread with its own event loop, a `websockets` server
on the middleware (`WsRevocationServer`: handshake token, `wfm` codec, `WebSocketSession`) on
the same RevocationState. A trial: a client_credentials token, one accepted API call, a
WebSocket opened with that token and answering a ping, then POST /oauth/revoke; the clock
starts when that call returns. The API is then called back to back until it answers 401, while
a thread of its own waits on the WebSocket for `@wfm|event/auth/revoked` and the 4401 close.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import flask_migrate
import jwt
import redis
import requests
from tessera_middleware import RevocationFeedPoller, RevocationState, TokenVerifier
from tessera_middleware.codec import WfmCodec
from tessera_middleware.errors import MiddlewareError
from tessera_middleware.guard import ResourceGuard
from tessera_middleware.redis_stream import RedisRevocationStream
from tessera_middleware.sse import SseRevocationStream
from tessera_middleware.websockets_server import guard_handshake, select_app_protocol, session_for
from tessera_middleware.ws import CLOSE_UNAUTHORIZED
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect
from werkzeug.serving import make_server

from bench import prepare
from bench.servers import AppServer, free_port
from idp import create_app

SECRET_KEY = "revocation-latency-bench-secret-key-0123456789"
GRANT = {"grant_type": "client_credentials", "scope": "market:read"}
GIVE_UP = 10.0  # seconds a trial may wait for the 401
TARGET_MS = 250.0  # issue 14: p99 under 250 ms, over Redis and over SSE, HTTP and WebSocket
REVOKED_ROUTE = "@wfm|event/auth/revoked"


@contextmanager
def own_redis(workdir: Path) -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("needs redis-server (apt-get install redis-server)")
    port = free_port()
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    proc = subprocess.Popen([*args, "--appendonly", "no", "--dir", str(workdir)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    try:
        client = redis.Redis.from_url(url, socket_timeout=0.5)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.RedisError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)  # waiting for a real server to listen
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


@contextmanager
def tessera(
    workdir: Path, redis_url: str, workers: int, second: bool
) -> Iterator[tuple[str, Any, str]]:
    """(issuer, fixture, the base URL SSE streams are read from: a second instance if asked)."""
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    settings = {
        "ENV": "development",
        "ISSUER": issuer,
        "DATABASE_URL": f"sqlite:///{workdir / 'tessera.db'}",
        "SECRET_KEY": SECRET_KEY,
        "INSTANCE_PATH": str(workdir / "instance"),
        "REDIS_URL": redis_url,
    }
    app = create_app(settings)
    with app.app_context():
        flask_migrate.upgrade()
        app.extensions["tessera"].keystore.ensure_keys()
        fixture = prepare.create_fixture(app.extensions["tessera"])
    env = {f"TESSERA_{k}": v for k, v in settings.items()}
    servers = [AppServer("idp.serving:wsgi_app", env, workdir / "tessera.log", workers, port=port)]
    if second:
        servers.append(AppServer("idp.serving:wsgi_app", env, workdir / "tessera.log", workers))
    try:
        for server in servers:
            server.wait_ready("/login")
        yield issuer, fixture, servers[-1].url
    except BaseException:
        print((workdir / "tessera.log").read_text()[-3000:])
        raise
    finally:
        for server in servers:
            server.stop()


class WsRevocationServer:
    """A `websockets` server on the middleware, in a thread with its own event loop.

    A connection signs in at the handshake (``Authorization: Bearer``), speaks ``wfm`` and is
    held in a ``WebSocketSession``: when the guard's RevocationState learns of its token's
    revocation, the session sends ``@wfm|event/auth/revoked`` and closes with 4401. It answers
    ``@wfm|cmd/ping`` so that a client knows the session is live before revoking.
    """

    def __init__(self, guard: ResourceGuard) -> None:
        self.guard = guard
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stopping: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="ws-server", daemon=True)

    def __enter__(self) -> WsRevocationServer:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the WebSocket server did not start")
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(10)

    def _run(self) -> None:
        self._loop.run_until_complete(self._serve())

    async def _handler(self, connection: ServerConnection) -> None:
        session = session_for(connection, self.guard, codec=WfmCodec())
        try:
            async with session:
                async for message in session.messages():
                    try:
                        await session.authorize()
                    except MiddlewareError as exc:
                        await session.error_event(exc, message)
                        continue
                    await session.send(f"{message.route}:ok", {}, ref=message.id)
        except ConnectionClosed:
            pass

    async def _serve(self) -> None:
        self._stopping = asyncio.Event()
        async with serve(
            self._handler,
            "127.0.0.1",
            0,
            process_request=guard_handshake(self.guard),
            select_subprotocol=select_app_protocol("wfm"),
            compression=None,
        ) as server:
            self.url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
            self._ready.set()
            await self._stopping.wait()


def open_session(url: str, access: str) -> ClientConnection:
    """A signed-in wfm session, live: its ping answered."""
    ws = connect(
        url,
        additional_headers={"Authorization": f"Bearer {access}"},
        subprotocols=["wfm"],  # type: ignore[list-item]
        compression=None,
        open_timeout=10,
        legacy=True,  # returned open: the RevokedWatch thread and the trial own it, not a `with`
    )
    ws.send(json.dumps({"route": "@wfm|cmd/ping", "payload": {}, "id": "1"}))
    reply = json.loads(ws.recv(timeout=10))
    assert reply["route"] == "@wfm|cmd/ping:ok", reply
    return ws


class RevokedWatch:
    """Waits, in a thread, for a session's revoked event and close frame; records when each
    arrived (``time.perf_counter``) and the close code."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.event: dict[str, Any] | None = None
        self.event_at: float | None = None
        self.closed_at: float | None = None
        self.code: int | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while True:
                frame = json.loads(self.ws.recv(timeout=GIVE_UP))
                if frame.get("route") == REVOKED_ROUTE:
                    self.event_at, self.event = time.perf_counter(), frame
        except ConnectionClosed as closed:
            self.closed_at = time.perf_counter()
            self.code = closed.rcvd.code if closed.rcvd is not None else None
        except TimeoutError:
            pass

    def result(self, start: float) -> tuple[float, float]:
        """(revoked event, close frame) seconds after ``start``; RuntimeError if missing."""
        self._thread.join(GIVE_UP + 1)
        self.ws.close()
        if self.event_at is None or self.closed_at is None or self.code != CLOSE_UNAUTHORIZED:
            raise RuntimeError(f"the WebSocket got no revoked event + 4401 (code {self.code})")
        return self.event_at - start, self.closed_at - start


def api(verifier: TokenVerifier) -> Callable[..., Any]:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        token = environ.get("HTTP_AUTHORIZATION", "").removeprefix("Bearer ")
        try:
            verifier.verify(token)
        except MiddlewareError:
            start_response("401 Unauthorized", [("Content-Length", "0")])
            return [b""]
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]

    return app


def follower(
    channel: str, poller: RevocationFeedPoller, redis_url: str, issuer: str, sse: str
) -> Any:
    if channel == "redis":
        return RedisRevocationStream(poller.state, poller, redis_url, issuer=issuer)
    if channel == "sse":
        return SseRevocationStream(poller.state, poller, endpoint=sse + "/oauth/revocations/stream")
    return poller  # "poll": the feed, every poll_interval seconds (5 by default)


def ready(channel: str, running: Any) -> bool:
    if channel == "redis":
        return running.following.is_set()
    if channel == "sse":
        return running.connected.is_set() and running.last_id is not None
    return running.state.last_sync is not None


Trial = dict[str, float]  # "http", "ws_event", "ws_close": seconds after the revoke returned


def trial(session: requests.Session, issuer: str, api_url: str, ws_url: str, basic: str) -> Trial:
    auth = {"Authorization": f"Basic {basic}"}
    token = session.post(f"{issuer}/oauth/token", data=GRANT, headers=auth, timeout=10)
    access = token.json()["access_token"]
    bearer = {"Authorization": f"Bearer {access}"}
    assert session.get(api_url, headers=bearer, timeout=10).status_code == 200
    watch = RevokedWatch(open_session(ws_url, access))
    # A connection of its own, as another client's would be: the revocation lands on any
    # worker, not always on the one serving the event stream.
    close = {**auth, "Connection": "close"}
    url = f"{issuer}/oauth/revoke"
    revoked = requests.post(url, data={"token": access}, headers=close, timeout=10)
    assert revoked.status_code == 200, revoked.text
    start = time.perf_counter()
    http = None
    while time.perf_counter() - start < GIVE_UP:
        if session.get(api_url, headers=bearer, timeout=10).status_code == 401:
            http = time.perf_counter() - start
            break
    if http is None:
        raise RuntimeError("the API still accepted a revoked token after 10 s")
    ws_event, ws_close = watch.result(start)
    return {"http": http, "ws_event": ws_event, "ws_close": ws_close}


def run_channel(
    channel: str, trials: int, issuer: str, fixture: Any, redis_url: str, sse: str
) -> list[Trial]:
    client_id, secret = _credentials(fixture.service_basic)
    poller = RevocationFeedPoller(
        RevocationState(), issuer=issuer, client_id=client_id, client_secret=secret
    )
    running = follower(channel, poller, redis_url, issuer, sse)
    running.start()
    session = requests.Session()
    probe = session.post(
        f"{issuer}/oauth/token",
        data=GRANT,
        headers={"Authorization": f"Basic {fixture.service_basic}"},
        timeout=10,
    ).json()["access_token"]
    audience = jwt.decode(probe, options={"verify_signature": False})["aud"]
    verifier = TokenVerifier(issuer, audience, revocations=poller.state)
    server = make_server("127.0.0.1", 0, api(verifier), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    api_url = f"http://127.0.0.1:{server.server_port}/"
    try:
        with WsRevocationServer(ResourceGuard(verifier, realm="bench")) as ws:
            deadline = time.monotonic() + 30
            while not ready(channel, running):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the {channel} follower did not start")
                time.sleep(0.05)  # waiting on a real connection
            basic = fixture.service_basic
            return [trial(session, issuer, api_url, ws.url, basic) for _ in range(trials)]
    finally:
        server.shutdown()
        running.stop()


def _credentials(basic: str) -> tuple[str, str]:
    import base64
    import urllib.parse

    pair = base64.b64decode(basic).decode()
    client_id, _, secret = pair.partition(":")
    return urllib.parse.unquote(client_id), urllib.parse.unquote(secret)


MEASURES = {
    "http": "API request -> 401",
    "ws_event": "WebSocket revoked event",
    "ws_close": "WebSocket 4401 close",
}


def summary(channel: str, measure: str, seconds: list[float]) -> dict[str, Any]:
    ms = sorted(s * 1000 for s in seconds)
    cut = statistics.quantiles(ms, n=100, method="inclusive")
    return {
        "channel": channel,
        "measure": measure,
        "trials": len(ms),
        "min_ms": round(ms[0], 1),
        "median_ms": round(statistics.median(ms), 1),
        "p90_ms": round(cut[89], 1),
        "p99_ms": round(cut[98], 1),
        "max_ms": round(ms[-1], 1),
        "target_met": cut[98] < TARGET_MS,
    }


def histogram(seconds: list[float]) -> str:
    """The distribution in a line: trials per bucket of milliseconds."""
    edges = (5, 10, 25, 50, 100, 250, 1000)
    counts = [0] * (len(edges) + 1)
    for value in seconds:
        counts[next((i for i, e in enumerate(edges) if value * 1000 < e), len(edges))] += 1
    labels = [f"<{e}" for e in edges] + [f">={edges[-1]}"]
    return "  ".join(f"{label} ms: {n}" for label, n in zip(labels, counts, strict=True))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--channels", nargs="+", default=["redis", "sse"],
                        choices=["redis", "sse", "poll"])  # fmt: skip
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", action="store_true", help="one JSON line per channel")
    parser.add_argument(
        "--tessera-without-redis",
        action="store_true",
        help="Tessera without TESSERA_REDIS_URL: SSE streams learn of events from the database",
    )
    parser.add_argument(
        "--second-instance",
        action="store_true",
        help="read SSE from a second Tessera instance (same database) than the one revoking",
    )
    args = parser.parse_args(argv)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not a line per API call
    if args.tessera_without_redis and "redis" in args.channels:
        parser.error("the redis channel needs Tessera's Redis")
    with tempfile.TemporaryDirectory(prefix="revocation-bench-") as tmp:
        workdir = Path(tmp)
        with own_redis(workdir) as redis_url:
            tessera_redis = "" if args.tessera_without_redis else redis_url
            running = tessera(workdir, tessera_redis, args.workers, args.second_instance)
            with running as (issuer, fixture, sse):
                print(f"target: p99 under {TARGET_MS:g} ms from the revoking call's return")
                for channel in args.channels:
                    trials = run_channel(channel, args.trials, issuer, fixture, redis_url, sse)
                    for measure in MEASURES:
                        seconds = [t[measure] for t in trials]
                        report(summary(channel, measure, seconds), seconds, args.json)


def report(row: dict[str, Any], seconds: list[float], as_json: bool) -> None:
    if as_json:
        print(json.dumps(row), flush=True)
        return
    verdict = "meets" if row["target_met"] else "MISSES"
    print(
        f"{row['channel']:>5} {MEASURES[row['measure']]:<26} {row['trials']} trials:"
        f" min {row['min_ms']}, p50 {row['median_ms']}, p90 {row['p90_ms']},"
        f" p99 {row['p99_ms']}, max {row['max_ms']} ms ({verdict} the target)\n"
        f"      {histogram(seconds)}",
        flush=True,
    )


if __name__ == "__main__":
    main()
