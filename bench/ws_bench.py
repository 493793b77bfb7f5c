"""WebSocket sessions at scale: ``make bench-ws`` (bench/README.md, "WebSocket sessions").

Starts bench/ws_server.py twice, bare ``websockets`` and then on the middleware, and drives
each from this process (asyncio, every connection in one process, RLIMIT_NOFILE raised):

1. N connections (10,000) each sign in with their own token (``@wfm|cmd/auth/signIn``, minted
   here with ``tessera_middleware.testing.Signer``; N/1000 apps, 1,000 sessions each), at most
   ``--concurrency`` handshakes in flight: sign-in throughput;
2. the server's RSS before and after (after a GC): memory per session, and the middleware's
   overhead per session over the bare baseline of the same run;
3. middleware only: for ``--trials`` apps, one app's suspension is applied to the server's
   ``RevocationState`` (from its control thread, as the feed poller's thread does); the time
   from that to each of the app's 1,000 sessions receiving ``@wfm|event/auth/revoked`` and
   then its close frame; every other session must stay open.

    .venv/bin/python bench/ws_bench.py [--sessions 10000] [--per-app 1000] [--trials 3]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tessera_middleware.codec import WfmCodec
from tessera_middleware.testing import Signer
from tessera_middleware.ws import WebSocketSession
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

HERE = Path(__file__).resolve().parent
SIGN_IN = "@wfm|cmd/auth/signIn"
REVOKED = "@wfm|event/auth/revoked"


@dataclass
class Server:
    proc: subprocess.Popen[str]
    port: int

    @classmethod
    def start(cls, mode: str, jwks: str, loop: str) -> Server:
        script = str(HERE / "ws_server.py")
        proc = subprocess.Popen(
            [sys.executable, script, "--mode", mode, "--jwks", jwks, "--loop", loop],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        line = proc.stdout.readline()  # type: ignore[union-attr]
        if not line.startswith("listening"):
            proc.kill()
            raise SystemExit(f"ws_server.py did not start: {line!r}")
        return cls(proc, int(line.split()[1]))

    def ask(self, command: str) -> list[str]:
        self.proc.stdin.write(command + "\n")  # type: ignore[union-attr]
        return self.proc.stdout.readline().split()  # type: ignore[union-attr]

    def rss(self) -> tuple[int, int]:
        _, kib, sessions = self.ask("rss")
        return int(kib), int(sessions)

    def stop(self) -> None:
        self.proc.stdin.close()  # type: ignore[union-attr]
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@dataclass
class Run:
    mode: str
    sessions: int = 0
    sign_in_seconds: float = 0.0
    rss_before_kib: int = 0
    rss_after_kib: int = 0
    revocations: list[dict[str, Any]] = field(default_factory=list)

    @property
    def per_session_kib(self) -> float:
        return (self.rss_after_kib - self.rss_before_kib) / max(self.sessions, 1)


async def open_session(port: int, token: str, ident: int) -> ClientConnection:
    ws = await connect(
        f"ws://127.0.0.1:{port}/socket",
        subprotocols=["wfm"],  # type: ignore[list-item]
        compression=None,
        ping_interval=None,
        open_timeout=60,
        max_queue=4,
    )
    await ws.send(json.dumps({"route": SIGN_IN, "payload": {"token": token}, "id": str(ident)}))
    reply = json.loads(await ws.recv())
    if reply.get("route") != f"{SIGN_IN}:ok":
        raise RuntimeError(f"sign-in refused: {reply}")
    return ws


async def open_all(port: int, tokens: list[str], concurrency: int) -> list[ClientConnection]:
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> ClientConnection:
        async with gate:
            return await open_session(port, tokens[i], i)

    return await asyncio.gather(*(one(i) for i in range(len(tokens))))


async def watch_revoked(ws: ClientConnection, t0: list[float]) -> tuple[float, float]:
    """(revoked event, close frame) times after ``t0[0]``, in ms."""
    message = json.loads(await ws.recv())
    event_at = time.perf_counter()
    if message.get("route") != REVOKED:
        raise RuntimeError(f"expected the revoked event, got {message}")
    try:
        await ws.recv()
        raise RuntimeError("a message after the revoked event")
    except ConnectionClosed as closed:
        if closed.rcvd is None or closed.rcvd.code != 4401:
            raise RuntimeError(f"closed without 4401: {closed}") from None
    closed_at = time.perf_counter()
    return (event_at - t0[0]) * 1000, (closed_at - t0[0]) * 1000


async def revoke_trial(
    server: Server, clients: list[ClientConnection], app: int, per_app: int
) -> dict[str, Any]:
    targets = clients[app * per_app : (app + 1) * per_app]
    t0 = [0.0]
    watchers = [asyncio.create_task(watch_revoked(ws, t0)) for ws in targets]
    await asyncio.sleep(0.2)  # every watcher is parked in recv() before the clock starts
    t0[0] = time.perf_counter()
    answer = await asyncio.to_thread(server.ask, f"revoke app-{app}")
    assert answer == ["revoked"], answer
    results = await asyncio.wait_for(asyncio.gather(*watchers), 60)
    closes = sorted(r[1] for r in results)
    events = sorted(r[0] for r in results)
    others_open = sum(1 for ws in clients if ws.close_code is None)
    return {
        "app": f"app-{app}",
        "sessions": len(targets),
        "event_p50_ms": statistics.median(events),
        "close_p50_ms": statistics.median(closes),
        "close_p99_ms": closes[int(len(closes) * 0.99) - 1],
        "close_max_ms": closes[-1],
        "still_open": others_open,
    }


async def sign_in_cost_us(signer: Signer, tokens: list[str]) -> float:
    """The middleware's own CPU per sign-in, in process and without sockets: decode the frame,
    verify the token (uncached), make the session, arm its timer, encode the reply."""
    sys.path.insert(0, str(HERE))
    from ws_server import make_guard  # the bench server's own guard

    guard = make_guard({"keys": [signer.jwk()]})
    codec = WfmCodec()

    async def nothing(*_args: object) -> None:
        return None

    sessions = []
    start = time.perf_counter()
    for i, raw in enumerate(tokens):
        session = WebSocketSession(
            guard, None, send_text=nothing, close=nothing, codec=codec, scopes=["ws:connect"]
        )
        frame = json.dumps({"route": SIGN_IN, "payload": {"token": raw}, "id": str(i)})
        if not await session.handle_sign_in(codec.decode(frame), first=True):
            raise RuntimeError("in-process sign-in refused")
        session.start()
        sessions.append(session)
    elapsed = time.perf_counter() - start
    for session in sessions:
        session.stop()
    return elapsed / len(tokens) * 1e6


def mint(signer: Signer, n: int, per_app: int) -> list[str]:
    return [
        signer.token(
            sub=f"user-{i}",
            client_id=f"app-{i // per_app}",
            gid=f"grant-{i}",
            scope="ws:connect orders:read",
            exp=int(time.time()) + 3600,
        )
        for i in range(n)
    ]


async def measure(mode: str, jwks: str, tokens: list[str], args: argparse.Namespace) -> Run:
    server = Server.start(mode, jwks, args.loop)
    run = Run(mode)
    clients: list[ClientConnection] = []
    try:
        run.rss_before_kib, _ = server.rss()
        start = time.perf_counter()
        clients = await open_all(server.port, tokens, args.concurrency)
        run.sign_in_seconds = time.perf_counter() - start
        gc.collect()
        gc.freeze()  # this process's 10,000 connections, out of the GC's way too
        await asyncio.sleep(1)  # let the server settle before reading its memory
        run.rss_after_kib, run.sessions = server.rss()
        if run.sessions != len(tokens):
            raise RuntimeError(f"{mode}: {run.sessions} sessions held, not {len(tokens)}")
        if mode == "middleware":
            for app in range(args.trials):
                run.revocations.append(await revoke_trial(server, clients, app, args.per_app))
    finally:
        await asyncio.gather(*(ws.close() for ws in clients), return_exceptions=True)
        server.stop()
        gc.unfreeze()
    return run


def report(runs: list[Run], args: argparse.Namespace, cost_us: float) -> dict[str, Any]:
    bare, mw = runs
    out: dict[str, Any] = {
        "sessions": mw.sessions,
        "cpus": os.cpu_count(),
        "loop": args.loop,
        "runs": {
            r.mode: {
                "sign_in_per_s": round(r.sessions / r.sign_in_seconds),
                "rss_before_mib": round(r.rss_before_kib / 1024, 1),
                "rss_after_mib": round(r.rss_after_kib / 1024, 1),
                "per_session_kib": round(r.per_session_kib, 2),
            }
            for r in runs
        },
        "middleware_overhead_kib_per_session": round(mw.per_session_kib - bare.per_session_kib, 2),
        "sign_in_ratio": round(
            (mw.sessions / mw.sign_in_seconds) / (bare.sessions / bare.sign_in_seconds), 2
        ),
        "sign_in_cpu_us_in_process": round(cost_us, 1),
        "revocations": mw.revocations,
    }
    print(json.dumps(out, indent=2))
    return out


async def amain(args: argparse.Namespace) -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < args.sessions + 100:
        raise SystemExit(f"RLIMIT_NOFILE hard limit {hard} is below {args.sessions} sessions")
    print(f"loop {args.loop}, RLIMIT_NOFILE {hard}, {args.sessions} sessions", file=sys.stderr)
    signer = Signer("ES256")
    tokens = mint(signer, args.sessions, args.per_app)
    with tempfile.TemporaryDirectory() as tmp:
        jwks = os.path.join(tmp, "jwks.json")
        Path(jwks).write_text(json.dumps({"keys": [signer.jwk()]}))
        runs = [await measure(mode, jwks, tokens, args) for mode in ("bare", "middleware")]
    cost_us = await sign_in_cost_us(signer, tokens[:2000])
    out = report(runs, args, cost_us)
    if args.output:
        Path(args.output).write_text(json.dumps(out, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--per-app", type=int, default=1_000)
    parser.add_argument("--trials", type=int, default=3, help="apps revoked, one after another")
    parser.add_argument("--concurrency", type=int, default=200, help="handshakes in flight")
    parser.add_argument("--output", help="also write the JSON report here")
    parser.add_argument(
        "--loop", choices=["asyncio", "uvloop"], default="uvloop", help="both sides, both modes"
    )
    args = parser.parse_args()
    if args.trials * args.per_app > args.sessions:
        parser.error("--trials x --per-app is more sessions than --sessions")
    if args.loop == "uvloop":
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    asyncio.run(amain(args))


if __name__ == "__main__":
    main()
