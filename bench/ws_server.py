"""The server side of ``bench/ws_bench.py``: a ``websockets`` server, bare or on the middleware.

    python bench/ws_server.py --mode middleware --jwks keys.json

``bare``: the same server without the middleware: it reads a first (sign-in) frame, answers
it and then echoes nothing, holding the connection. ``middleware``: each connection signs in
with the ``wfm`` codec (``@wfm|cmd/auth/signIn``) and gets a ``WebSocketSession`` (expiry
timer, revocation watch), the setup of examples/ws_server.

Control lines on stdin, one answer line each on stdout:
``rss`` -> ``rss <KiB> <sessions>`` (after a GC), ``revoke <client_id>`` -> ``revoked``:
the app's suspension is applied to the server's ``RevocationState`` from this stdin thread,
the way ``RevocationFeedPoller``'s thread applies a feed document.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import resource
import sys
import threading
from typing import Any

from tessera_middleware import RevocationState, TokenVerifier
from tessera_middleware.codec import WfmCodec
from tessera_middleware.guard import ResourceGuard
from tessera_middleware.http import HttpResponse
from tessera_middleware.ratelimit import TierRateLimiter
from tessera_middleware.testing import AUDIENCE, ISSUER
from tessera_middleware.websockets_server import session_for
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

SESSIONS: set[Any] = set()


def raise_nofile() -> int:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def rss_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def make_guard(jwks: dict[str, Any]) -> ResourceGuard:
    documents = {
        f"{ISSUER}/.well-known/openid-configuration": {
            "issuer": ISSUER,
            "jwks_uri": f"{ISSUER}/jwks",
        },
        f"{ISSUER}/jwks": jwks,
    }

    def fetch(url: str, headers: Any) -> HttpResponse:
        return HttpResponse(200, json.dumps(documents[url]).encode())

    revocations = RevocationState(max_staleness=None)
    verifier = TokenVerifier(ISSUER, AUDIENCE, http=fetch, revocations=revocations)
    verifier.keys.get(jwks["keys"][0]["kid"])  # warm: the bench measures sessions, not fetches
    return ResourceGuard(verifier, rate_limiter=TierRateLimiter("memory://"), realm="bench")


def middleware_handler(guard: ResourceGuard) -> Any:
    codec = WfmCodec()

    async def handler(connection: ServerConnection) -> None:
        session = session_for(connection, guard, codec=codec, scopes=["ws:connect"])
        if not await session.sign_in_first_message():
            return
        SESSIONS.add(session)
        try:
            async with session:
                async for message in session.messages():
                    await session.send(f"{message.route}:ok", None, ref=message.id)
        finally:
            SESSIONS.discard(session)

    return handler


async def bare_handler(connection: ServerConnection) -> None:
    """The baseline: one sign-in-sized frame read and answered, then the connection held."""
    try:
        first = json.loads(await connection.recv())
        await connection.send(json.dumps({"route": f"{first['route']}:ok", "refId": first["id"]}))
        SESSIONS.add(connection)
        async for message in connection:
            await connection.send(message)
    except ConnectionClosed:
        pass
    finally:
        SESSIONS.discard(connection)


def control(loop: asyncio.AbstractEventLoop, guard: ResourceGuard | None) -> None:
    """stdin commands, answered on stdout; runs in its own thread."""
    for line in sys.stdin:
        words = line.split()
        if words[:1] == ["rss"]:
            done = asyncio.run_coroutine_threadsafe(_collect(), loop)
            print(f"rss {done.result()} {len(SESSIONS)}", flush=True)
        elif words[:1] == ["revoke"] and guard is not None and guard.revocations is not None:
            guard.revocations.apply({"full": False, "suspended_clients": [words[1]]})
            print("revoked", flush=True)
    loop.call_soon_threadsafe(loop.stop)


async def _collect() -> int:
    gc.collect()
    # The sessions are long-lived: out of the cyclic GC's generations, a full collection no
    # longer walks them all in the middle of a revocation burst (the same for both modes).
    gc.freeze()
    return rss_kib()


async def main(mode: str, jwks_path: str | None) -> None:
    guard = None
    if mode == "middleware":
        with open(jwks_path or "") as keys:
            guard = make_guard(json.load(keys))
        handler = middleware_handler(guard)
    else:
        handler = bare_handler
    async with serve(
        handler,
        "127.0.0.1",
        0,
        backlog=4096,
        compression=None,  # the same for both; per-connection zlib state would swamp both
        max_size=64 * 1024,
        ping_interval=None,  # no keepalive traffic during the measurement
    ) as server:
        port = server.sockets[0].getsockname()[1]
        loop = asyncio.get_running_loop()
        threading.Thread(target=control, args=(loop, guard), daemon=True).start()
        print(f"listening {port} nofile {raise_nofile()}", flush=True)
        await asyncio.Future()  # until stdin closes (the control thread stops the loop)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mode", choices=["bare", "middleware"], required=True)
    parser.add_argument("--jwks")
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    args = parser.parse_args()
    raise_nofile()
    if args.loop == "uvloop":
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    try:
        asyncio.run(main(args.mode, args.jwks))
    except RuntimeError as exc:  # loop stopped by the control thread at EOF
        if "Event loop stopped" not in str(exc):
            raise
