"""``python -m examples.market_api``: serve the market API (settings from the environment).

TESSERA_ISSUER, API_AUDIENCE (default ISSUER/api), API_CLIENT_ID and API_CLIENT_SECRET (a
service app holding revocations:read), REDIS_URL (optional: shared rate limits, orders and
order events), REVOCATIONS_REDIS_URL (Tessera's Redis, default REDIS_URL: revocations are
followed on its stream when Tessera writes one, else on Tessera's Server-Sent Events), HOST
(127.0.0.1), PORT (8000; 0 picks a free port), MARKET_NAMESPACE.
"""

from __future__ import annotations

import logging
import sys

from werkzeug.serving import make_server

from examples.market_api.app import create_app
from examples.resource import ResourceSettings, build_guard


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="market-api %(levelname)s %(message)s")
    settings = ResourceSettings.from_env(default_port=8000)
    guard, revocations = build_guard(settings, realm="market", limit_prefix="api")
    redis_client = None
    if settings.redis_url:
        import redis

        redis_client = redis.Redis.from_url(settings.redis_url, socket_timeout=5)
    revocations.start()
    app = create_app(settings, guard, redis_client=redis_client)
    server = make_server(settings.host, settings.port, app, threaded=True)
    # The exact line the demo and the end-to-end tests wait for (PORT=0 resolves here).
    print(f"market-api listening on http://{settings.host}:{server.server_port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        revocations.stop(timeout=1)
        sys.stdout.flush()


if __name__ == "__main__":
    main()
