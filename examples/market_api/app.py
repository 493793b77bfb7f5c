"""The market API: Flask views guarded by ``tessera_middleware.flask_ext.require_token``.

GET /market   public market data (recent orders, no owners)     needs market:read
GET /orders   the caller's own orders                           needs orders:read
POST /orders  place an order for the caller                     needs orders:write
GET /health   liveness, no token

Every guarded response carries the RateLimit-* headers of the app's tier; over the tier
the answer is 429 with Retry-After (per app, and per app and user for user tokens).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Flask, Response, g, jsonify, request
from tessera_middleware.flask_ext import TesseraAuth, require_token
from tessera_middleware.guard import ResourceGuard
from werkzeug.exceptions import HTTPException

from examples.market_api.orders import (
    MemoryOrderStore,
    OrderInvalid,
    OrderStore,
    RedisOrderStore,
    new_order,
    parse_new_order,
)
from examples.resource import ResourceSettings

log = logging.getLogger(__name__)


def _error(status: int, error: str, description: str, **extra: Any) -> Response:
    response = jsonify({"error": error, "error_description": description, **extra})
    response.status_code = status
    return response


def _limit(default: int, most: int) -> int | Response:
    raw = request.args.get("limit", str(default))
    # isdigit() alone lets "²" through, which int() then refuses.
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= most:
        return _error(400, "invalid_request", f"limit must be a whole number from 1 to {most}")
    return int(raw)


def _json_body() -> Any:
    """The JSON body, or None when it does not parse (too deep a nesting included)."""
    try:
        return request.get_json(silent=True)
    except RecursionError:  # Flask's silent=True covers ValueError only
        return None


def create_app(
    settings: ResourceSettings,
    guard: ResourceGuard,
    *,
    store: OrderStore | None = None,
    redis_client: Any = None,
) -> Flask:
    """The API; with ``redis_client`` orders are shared and new ones are published."""
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 16 * 1024  # an order is a few dozen bytes
    TesseraAuth(app, guard)
    if store is None:
        store = RedisOrderStore(redis_client, settings.namespace) if redis_client else None
    orders: OrderStore = store or MemoryOrderStore()
    events_channel = f"{settings.namespace}:events"

    @app.get("/health")
    def health() -> Response:
        return jsonify({"status": "ok"})

    @app.get("/market")
    @require_token("market:read")
    def market() -> Any:
        limit = _limit(20, 50)
        if isinstance(limit, Response):
            return limit
        return jsonify({"orders": [o.public() for o in orders.recent(limit)]})

    @app.get("/orders")
    @require_token("orders:read")
    def list_orders() -> Any:
        limit = _limit(50, 200)
        if isinstance(limit, Response):
            return limit
        mine = orders.for_owner(g.access_token.subject, limit)
        return jsonify({"orders": [o.public() for o in mine]})

    @app.post("/orders")
    @require_token("orders:write")
    def place_order() -> Any:
        if not request.is_json:
            return _error(400, "invalid_request", "send the order as application/json")
        try:
            fields = parse_new_order(_json_body())
        except OrderInvalid as exc:
            return _error(400, "invalid_request", "the order is not valid", fields=exc.errors)
        token = g.access_token
        order = new_order(fields, token.subject, token.client_id)
        orders.add(order)
        if redis_client is not None:
            _publish(redis_client, events_channel, order)
        return jsonify(order.public()), 201

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        # JSON for every framework error too (404, 405, 413, malformed requests).
        return _error(
            exc.code or 500,
            "invalid_request" if exc.code == 400 else "error",
            exc.description or exc.name,
        )

    return app


def _publish(redis_client: Any, channel: str, order: Any) -> None:
    """Tell the WebSocket server about the order; the order stands even if this fails."""
    event = {"type": "order", "owner": order.owner, "order": order.public()}
    try:
        redis_client.publish(channel, json.dumps(event))
    except Exception as exc:  # redis raises its own family; the API must keep answering
        log.warning("could not publish order event: %s", exc)
