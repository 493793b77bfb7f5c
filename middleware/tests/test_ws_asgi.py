"""The same WebSocket session lifecycle on ASGI (Starlette and FastAPI), through
Starlette's TestClient; plus FastAPI's ``Security(require_scopes(...))`` and its OpenAPI.
"""

from __future__ import annotations

import time

import pytest
from fastapi import FastAPI, Security, WebSocket
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect
from tessera_middleware.asgi import TesseraASGIMiddleware, asgi_session
from tessera_middleware.codec import JsonCodec, WfmCodec
from tessera_middleware.fastapi_ext import (
    DEFAULT_SCHEME,
    install,
    oauth2_scheme,
    require_scopes,
)
from tessera_middleware.testing import Signer
from tessera_middleware.tokens import AccessToken
from tessera_middleware.ws import CLOSE_UNAUTHORIZED
from wshelpers import ORIGIN, ShiftedClock, serve_session


def token(signer: Signer, **claims) -> str:
    return signer.token(scope="ws:connect orders:read orders:write", **claims)


def endpoint(guard, clock, *, on_invalid="close"):
    async def live(websocket) -> None:
        wfm = "wfm" in websocket.scope.get("subprotocols", [])
        await websocket.accept(subprotocol="wfm" if wfm else None)
        codec = WfmCodec() if wfm else JsonCodec(announce_close=True, expired_type="expired")
        session = asgi_session(
            websocket, guard, codec=codec, scopes=["ws:connect"], on_invalid=on_invalid, clock=clock
        )
        await serve_session(session)

    return live


def starlette_app(guard, clock, **options) -> TestClient:
    app = Starlette(routes=[WebSocketRoute("/socket", endpoint(guard, clock, **options))])
    protected = TesseraASGIMiddleware(
        app, guard, websocket_origins=[ORIGIN], websocket_sign_in=True
    )
    return TestClient(protected)


def fastapi_app(guard, clock, scheme=DEFAULT_SCHEME) -> TestClient:
    app = FastAPI()
    install(app, guard)
    live = endpoint(guard, clock)

    @app.websocket("/socket")
    async def socket(websocket: WebSocket) -> None:
        await live(websocket)

    @app.get("/orders")
    async def orders(
        access: AccessToken = Security(require_scopes("orders:read", scheme=scheme)),  # noqa: B008
    ) -> dict:
        return {"user": access.subject}

    @app.post("/orders")
    async def create(
        access: AccessToken = Security(require_scopes("orders:write", scheme=scheme)),  # noqa: B008
    ) -> dict:
        return {"ok": True}

    app.add_middleware(
        TesseraASGIMiddleware,
        guard=guard,
        exempt_paths=["/orders", "/openapi.json"],  # the routes' own dependencies decide
        websocket_origins=[ORIGIN],
        websocket_sign_in=True,
    )
    return TestClient(app)


OAUTH2 = oauth2_scheme("https://id.tessera.test", {"orders:write": "place orders"})


def wfm(route: str, payload: object = None, ident: str | None = None) -> dict:
    return {"route": route, "payload": payload, "id": ident}


def closed_code(ws) -> int:
    with pytest.raises(WebSocketDisconnect) as info:
        ws.receive_json()
    return info.value.code


@pytest.fixture(params=["starlette", "fastapi"])
def make_client(request, guard):
    def make(clock, **options):
        if request.param == "fastapi":
            return fastapi_app(guard, clock)
        return starlette_app(guard, clock, **options)

    return make


def test_asgi_wfm_sign_in_in_band_then_revocation_close(make_client, es256, revocations) -> None:
    client = make_client(ShiftedClock())
    with client.websocket_connect(
        "/socket", subprotocols=["wfm"], headers={"Origin": ORIGIN}
    ) as ws:
        ws.send_json(wfm("@wfm|cmd/auth/signIn", {"token": token(es256, jti="a-1")}, "s1"))
        reply = ws.receive_json()
        assert reply["route"] == "@wfm|cmd/auth/signIn:ok" and reply["refId"] == "s1"
        ws.send_json(wfm("@wfm|cmd/orders/list", {"scope": "orders:read"}, "c1"))
        assert ws.receive_json()["route"] == "@wfm|cmd/orders/list:ok"
        # From this thread, as the feed poller's would: the app's loop is another thread.
        revocations.apply({"full": False, "revoked_tokens": [{"jti": "a-1", "exp": 4e9}]})
        assert ws.receive_json()["route"] == "@wfm|event/auth/revoked"
        assert closed_code(ws) == CLOSE_UNAUTHORIZED


def test_asgi_handshake_token_expiry_closes_without_traffic(make_client, guard, es256) -> None:
    clock = ShiftedClock()
    raw = token(es256)
    access = guard.verifier.verify(raw)
    clock.expire_in(0.3, access.expires_at, guard.verifier.leeway)
    client = make_client(clock)
    headers = {"Origin": ORIGIN, "Authorization": f"Bearer {raw}"}
    with client.websocket_connect("/socket", headers=headers) as ws:
        started = time.monotonic()
        assert ws.receive_json() == {"type": "expired", "reason": "the token has expired"}
        assert closed_code(ws) == CLOSE_UNAUTHORIZED
        assert time.monotonic() - started < 3


def test_asgi_reauth_and_stale_rule(make_client, es256, revocations) -> None:
    client = make_client(ShiftedClock())
    with client.websocket_connect(
        "/socket", subprotocols=["wfm"], headers={"Origin": ORIGIN}
    ) as ws:
        ws.send_json(wfm("@wfm|cmd/auth/signIn", {"token": token(es256, jti="old")}, "s1"))
        ws.receive_json()
        ws.send_json(wfm("@wfm|cmd/auth/signIn", {"token": token(es256, jti="new")}, "s2"))
        assert ws.receive_json()["refId"] == "s2"
        revocations.apply({"full": False, "revoked_tokens": [{"jti": "old", "exp": 4e9}]})
        revocations.last_sync -= revocations.max_staleness + 1
        ws.send_json(wfm("@wfm|cmd/orders/create", {"scope": "orders:write"}, "w"))
        assert ws.receive_json()["payload"]["error"] == "temporarily_unavailable"
        ws.send_json(wfm("@wfm|cmd/orders/list", {"scope": "orders:read"}, "r"))
        assert ws.receive_json()["route"] == "@wfm|cmd/orders/list:ok"  # still signed in
        ws.send_json(wfm("@wfm|cmd/auth/signIn", {"token": token(es256, sub="user-2")}, "s3"))
        assert ws.receive_json()["route"] == "@wfm|cmd/auth/signIn:error"
        assert closed_code(ws) == CLOSE_UNAUTHORIZED


def test_asgi_first_message_must_sign_in(make_client) -> None:
    client = make_client(ShiftedClock())
    with client.websocket_connect(
        "/socket", subprotocols=["wfm"], headers={"Origin": ORIGIN}
    ) as ws:
        ws.send_json(wfm("@wfm|cmd/orders/list", {}, "c"))
        refused = ws.receive_json()
        assert refused["route"] == "@wfm|cmd/orders/list:error" and refused["refId"] == "c"
        assert closed_code(ws) == 1008


def test_fastapi_security_dependency_and_openapi(guard, es256) -> None:
    client = fastapi_app(guard, ShiftedClock(), scheme=OAUTH2)
    resp = client.get("/orders", headers={"Authorization": f"Bearer {es256.token()}"})
    assert resp.status_code == 200 and resp.json() == {"user": "user-1"}
    assert resp.headers["RateLimit-Limit"] == "10"
    resp = client.get("/orders")
    assert (
        resp.status_code == 401 and resp.headers["WWW-Authenticate"] == 'Bearer realm="orders-api"'
    )
    resp = client.post("/orders", headers={"Authorization": f"Bearer {es256.token(scope='x')}"})
    assert resp.status_code == 403 and resp.json()["error"] == "insufficient_scope"
    assert 'scope="orders:write"' in resp.headers["WWW-Authenticate"]
    twice = [("Authorization", f"Bearer {es256.token()}")] * 2
    assert client.get("/orders", headers=twice).status_code == 400
    spec = client.get("/openapi.json").json()
    assert spec["paths"]["/orders"]["get"]["security"] == [{"tessera": ["orders:read"]}]
    assert spec["paths"]["/orders"]["post"]["security"] == [{"tessera": ["orders:write"]}]
    scheme = spec["components"]["securitySchemes"]["tessera"]
    assert scheme["type"] == "oauth2"
    flow = scheme["flows"]["authorizationCode"]
    assert flow["authorizationUrl"] == "https://id.tessera.test/oauth/authorize"
    assert flow["scopes"] == {"orders:write": "place orders"}


def test_fastapi_stale_revocation_data_refuses_writes_with_503(guard, es256, revocations) -> None:
    client = fastapi_app(guard, ShiftedClock())
    revocations.last_sync -= revocations.max_staleness + 1
    headers = {"Authorization": f"Bearer {es256.token()}"}
    assert client.get("/orders", headers=headers).status_code == 200
    resp = client.post("/orders", headers=headers)
    assert resp.status_code == 503 and resp.headers["Retry-After"] == "5"


def test_fastapi_default_scheme_is_http_bearer_jwt(guard) -> None:
    spec = fastapi_app(guard, ShiftedClock()).get("/openapi.json").json()
    scheme = spec["components"]["securitySchemes"]["tessera"]
    assert scheme["type"] == "http" and scheme["scheme"] == "bearer"
    assert scheme["bearerFormat"] == "JWT"
    assert spec["paths"]["/orders"]["get"]["security"] == [{"tessera": ["orders:read"]}]
