"""Revocation latency end to end: from the moment the revoking call returns to the first API
request the resource server rejects, over each channel (bench/README.md).

    .venv/bin/python -m bench.revocation_latency                   # redis and sse, 200 trials
    .venv/bin/python -m bench.revocation_latency --channels poll --trials 20   # the old way
    .venv/bin/python -m bench.revocation_latency --channels sse --tessera-without-redis \
        --second-instance     # SSE from another instance than the revoking one, no Redis

Tessera runs as in production (`python -m idp.serving`, granian, one worker per core) on a
fresh SQLite file with a redis-server of its own on a free port (the shared one is never
touched). The resource server is a small WSGI API in this process, on werkzeug's threaded
server, verifying tokens with tessera_middleware.TokenVerifier against a RevocationState fed by
the channel under test. A trial: a client_credentials token, one accepted API call, then
POST /oauth/revoke; the clock starts when that call returns, and the API is called back to back
until it answers 401.
"""

from __future__ import annotations

import argparse
import json
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
from tessera_middleware.errors import MiddlewareError
from tessera_middleware.redis_stream import RedisRevocationStream
from tessera_middleware.sse import SseRevocationStream
from werkzeug.serving import make_server

from bench import prepare
from bench.servers import AppServer, free_port
from idp import create_app

SECRET_KEY = "revocation-latency-bench-secret-key-0123456789"
GRANT = {"grant_type": "client_credentials", "scope": "market:read"}
GIVE_UP = 10.0  # seconds a trial may wait for the 401


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


def trial(session: requests.Session, issuer: str, api_url: str, basic: str) -> float:
    auth = {"Authorization": f"Basic {basic}"}
    token = session.post(f"{issuer}/oauth/token", data=GRANT, headers=auth, timeout=10)
    access = token.json()["access_token"]
    bearer = {"Authorization": f"Bearer {access}"}
    assert session.get(api_url, headers=bearer, timeout=10).status_code == 200
    # A connection of its own, as another client's would be: the revocation lands on any
    # worker, not always on the one serving the event stream.
    close = {**auth, "Connection": "close"}
    url = f"{issuer}/oauth/revoke"
    revoked = requests.post(url, data={"token": access}, headers=close, timeout=10)
    assert revoked.status_code == 200, revoked.text
    start = time.perf_counter()
    while time.perf_counter() - start < GIVE_UP:
        if session.get(api_url, headers=bearer, timeout=10).status_code == 401:
            return time.perf_counter() - start
    raise RuntimeError("the API still accepted a revoked token after 10 s")


def run_channel(
    channel: str, trials: int, issuer: str, fixture: Any, redis_url: str, sse: str
) -> list[float]:
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
        deadline = time.monotonic() + 30
        while not ready(channel, running):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the {channel} follower did not start")
            time.sleep(0.05)  # waiting on a real connection
        return [trial(session, issuer, api_url, fixture.service_basic) for _ in range(trials)]
    finally:
        server.shutdown()
        running.stop()


def _credentials(basic: str) -> tuple[str, str]:
    import base64
    import urllib.parse

    pair = base64.b64decode(basic).decode()
    client_id, _, secret = pair.partition(":")
    return urllib.parse.unquote(client_id), urllib.parse.unquote(secret)


def summary(channel: str, seconds: list[float]) -> dict[str, Any]:
    ms = sorted(s * 1000 for s in seconds)
    cut = statistics.quantiles(ms, n=100, method="inclusive")
    return {
        "channel": channel,
        "trials": len(ms),
        "min_ms": round(ms[0], 1),
        "median_ms": round(statistics.median(ms), 1),
        "p90_ms": round(cut[89], 1),
        "p99_ms": round(cut[98], 1),
        "max_ms": round(ms[-1], 1),
    }


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
    if args.tessera_without_redis and "redis" in args.channels:
        parser.error("the redis channel needs Tessera's Redis")
    with tempfile.TemporaryDirectory(prefix="revocation-bench-") as tmp:
        workdir = Path(tmp)
        with own_redis(workdir) as redis_url:
            tessera_redis = "" if args.tessera_without_redis else redis_url
            running = tessera(workdir, tessera_redis, args.workers, args.second_instance)
            with running as (issuer, fixture, sse):
                for channel in args.channels:
                    seconds = run_channel(channel, args.trials, issuer, fixture, redis_url, sse)
                    report(summary(channel, seconds), args.json)


def report(row: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(row), flush=True)
        return
    print(
        f"{row['channel']:>5}: {row['trials']} trials, revoke returned -> API 401:"
        f" min {row['min_ms']} ms, median {row['median_ms']} ms,"
        f" p90 {row['p90_ms']} ms, p99 {row['p99_ms']} ms, max {row['max_ms']} ms",
        flush=True,
    )


if __name__ == "__main__":
    main()
