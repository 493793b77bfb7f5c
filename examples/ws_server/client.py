"""A tiny client for trying the server: ``TOKEN=... python -m examples.ws_server.client``.

Connects with the token in the Authorization header, subscribes to the channels given
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


async def follow(url: str, token: str, channels: list[str]) -> int:
    async with connect(url, additional_headers={"Authorization": f"Bearer {token}"}) as ws:
        for channel in channels:
            await ws.send(json.dumps({"type": "subscribe", "channel": channel}))
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
    args = parser.parse_args()
    token = os.environ.get("TOKEN", "")
    if not token:
        sys.exit("set TOKEN to an access token holding ws:connect")
    sys.exit(asyncio.run(follow(args.url, token, args.channels or ["orders"])))


if __name__ == "__main__":
    main()
