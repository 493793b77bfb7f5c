"""The example resource servers built on the middleware answer hostile input with 4xx, never
a 500 or a 1011 (issue 12.12, the same class of defect as the middleware's own).
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from tessera_middleware import InvalidRequest
from tessera_middleware.testing import Signer
from websockets.datastructures import Headers
from websockets.http11 import Request

from examples.market_api.app import create_app
from examples.resource import ResourceSettings
from examples.ws_server.server import JSON, WFM, handshake

ENV = {"TESSERA_ISSUER": "http://127.0.0.1:5000", "API_CLIENT_ID": "rs", "API_CLIENT_SECRET": "s"}


@pytest.fixture
def market(guard):
    return create_app(ResourceSettings.from_env(ENV, default_port=8000), guard).test_client()


def test_issue12_market_api_deeply_nested_order_is_a_400(market, es256: Signer) -> None:
    token = es256.token(scope="orders:write")
    resp = market.post(
        "/orders",
        data="[" * 8000 + "]" * 8000,
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert resp.status_code == 400 and resp.json["error"] == "invalid_request"


@pytest.mark.parametrize("limit", ["²", "١٢", "-1", "1e3"])
def test_issue12_market_api_non_ascii_digits_in_limit_are_a_400(
    market, es256: Signer, limit: str
) -> None:
    token = es256.token(scope="orders:read")
    resp = market.get(f"/orders?limit={limit}", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 400


@pytest.mark.parametrize(
    "raw", ['{"type": ' + "[" * 5000 + "]" * 5000 + "}", b"\xff\xfe", "[" * 3000 + "]" * 3000]
)
def test_issue12_ws_server_hostile_message_is_invalid_request(raw: str | bytes) -> None:
    for dialect in (JSON, WFM):
        with pytest.raises(InvalidRequest):
            dialect.codec.decode(raw)


def test_issue12_ws_server_repeated_origin_is_refused_not_a_crash(guard) -> None:
    class Connection:
        def respond(self, status: int, text: str) -> SimpleNamespace:
            return SimpleNamespace(status_code=status, headers={})

    hook = handshake(guard, ["https://app.test"], allow_missing_origin=True)
    origins = Headers([("Origin", "https://app.test"), ("Origin", "https://evil.test")])
    response = asyncio.run(hook(Connection(), Request("/", origins)))  # type: ignore[arg-type]
    assert response.status_code == 400
