"""``python -m examples.ws_server``: serve live order events (settings from the environment).

The market API's settings (TESSERA_ISSUER, API_AUDIENCE, API_CLIENT_ID, API_CLIENT_SECRET,
REDIS_URL, REVOCATIONS_REDIS_URL, MARKET_NAMESPACE) plus HOST, PORT (8765; 0 picks a free one),
WS_ALLOWED_ORIGINS (space- or comma-separated browser origins) and WS_REQUIRE_ORIGIN=1 to
refuse clients that send no Origin. Without REDIS_URL no order events arrive from the API.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re

from tessera_middleware.websockets_server import select_app_protocol
from websockets.asyncio.server import serve

from examples.resource import ResourceSettings, build_guard
from examples.ws_server.server import PROTOCOLS, Hub, follow_redis, handshake, make_handler

log = logging.getLogger("examples.ws_server")


async def run() -> None:
    settings = ResourceSettings.from_env(default_port=8765)
    origins = [o for o in re.split(r"[\s,]+", os.environ.get("WS_ALLOWED_ORIGINS", "")) if o]
    require_origin = os.environ.get("WS_REQUIRE_ORIGIN", "") in ("1", "true", "yes")
    guard, revocations = build_guard(settings, realm="market-ws", limit_prefix="ws")
    revocations.start()
    hub = Hub()
    relay = None
    if settings.redis_url:
        relay = asyncio.create_task(
            follow_redis(hub, settings.redis_url, f"{settings.namespace}:events")
        )
    else:
        log.warning("REDIS_URL is not set: no order events will arrive from the API")
    async with serve(
        make_handler(guard, hub),
        settings.host,
        settings.port,
        process_request=handshake(guard, origins, allow_missing_origin=not require_origin),
        select_subprotocol=select_app_protocol(*PROTOCOLS),
        max_size=64 * 1024,
    ) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"ws-server listening on ws://{settings.host}:{port}", flush=True)
        try:
            await server.serve_forever()
        finally:
            if relay is not None:
                relay.cancel()
            revocations.stop(timeout=1)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="ws-server %(levelname)s %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())


if __name__ == "__main__":
    main()
