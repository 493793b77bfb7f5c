"""A tiny client for trying the server: ``TOKEN=... python -m examples.ws_server.client``.

Speaks ``wfm`` (``--json`` for the JSON protocol): offers the ``wfm`` subprotocol, signs in
with its first message (``@wfm|cmd/auth/signIn``), subscribes to the channels given
(default: orders) and prints every message until the server closes the connection.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed


def _messages(token: str, channels: list[str], wfm: bool) -> list[dict]:
    if not wfm:
        auth = {"type": "auth", "token": token}
        return [auth, *({"type": "subscribe", "channel": c} for c in channels)]
    sign_in = {"route": "@wfm|cmd/auth/signIn", "payload": {"token": token}, "id": "sign-in"}
    return [
        sign_in,
        *(
            {"route": "@wfm|cmd/orders/subscribe", "payload": {"channel": c}, "id": f"sub-{c}"}
            for c in channels
        ),
    ]


async def follow(url: str, token: str, channels: list[str], wfm: bool = True) -> int:
    protocols = ["wfm"] if wfm else ["tessera.v1"]
    async with connect(url, subprotocols=protocols) as ws:  # type: ignore[arg-type]
        for message in _messages(token, channels, wfm):
            await ws.send(json.dumps(message))
        try:
            async for message in ws:
                print(message, flush=True)
        except ConnectionClosed:
            pass
        print(f"closed: {ws.close_code} {ws.close_reason}", flush=True)
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default="ws://127.0.0.1:8765")
    parser.add_argument("--channel", action="append", dest="channels")
    parser.add_argument("--json", action="store_true", help="the JSON protocol instead of wfm")
    args = parser.parse_args()
    token = os.environ.get("TOKEN", "")
    if not token:
        sys.exit("set TOKEN to an access token holding ws:connect")
    sys.exit(asyncio.run(follow(args.url, token, args.channels or ["orders"], not args.json)))


if __name__ == "__main__":
    main()
