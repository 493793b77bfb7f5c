"""Flask, WSGI and ASGI adapters through their frameworks' test clients.

docs/security.md#24 and #26.
"""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient
from tessera_middleware.asgi import TesseraASGIMiddleware
from tessera_middleware.testing import Signer
from tessera_middleware.wsgi import ENVIRON_KEY, TesseraWSGIMiddleware
from werkzeug.test import Client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_flask_valid_token_and_rate_headers(flask_client, es256: Signer) -> None:
    resp = flask_client.get("/orders", headers=bearer(es256.token()))
    assert resp.status_code == 200 and resp.json == {"user": "user-1"}
    assert resp.headers["RateLimit-Limit"] == "10"
    assert resp.headers["RateLimit-Remaining"] == "9"


def test_checklist_24_missing_token_bare_challenge(flask_client) -> None:
    resp = flask_client.get("/orders")
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"] == 'Bearer realm="orders-api"'


def test_checklist_24_invalid_token_header(flask_client, es256: Signer) -> None:
    resp = flask_client.get("/orders", headers=bearer(es256.token(aud="other")))
    assert resp.status_code == 401
    challenge = resp.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="orders-api", error="invalid_token"')
    assert 'error_description="the token is not meant for this API (audience)"' in challenge


def test_checklist_24_query_token_refused(flask_client, es256: Signer) -> None:
    resp = flask_client.get("/orders?access_token=" + es256.token())
    assert resp.status_code == 400
    assert 'error="invalid_request"' in resp.headers["WWW-Authenticate"]


def test_checklist_26_insufficient_scope_header(flask_client, es256: Signer) -> None:
    resp = flask_client.post("/orders", headers=bearer(es256.token(scope="orders:read")))
    assert resp.status_code == 403
    challenge = resp.headers["WWW-Authenticate"]
    assert 'error="insufficient_scope"' in challenge
    assert 'scope="orders:write orders:read"' in challenge


def test_checklist_26_revoked_token_401(flask_client, es256: Signer, revocations) -> None:
    token = es256.token(jti="gone")
    assert flask_client.get("/orders", headers=bearer(token)).status_code == 200
    revocations.apply({"full": False, "revoked_tokens": [{"jti": "gone", "exp": 4e9}]})
    resp = flask_client.get("/orders", headers=bearer(token))
    assert resp.status_code == 401 and "revoked" in resp.headers["WWW-Authenticate"]


def test_checklist_26_stale_revocations_block_writes_not_reads(
    flask_client, es256: Signer, revocations
) -> None:
    revocations.last_sync = 0.0  # long ago
    token = es256.token()
    assert flask_client.get("/orders", headers=bearer(token)).status_code == 200
    resp = flask_client.post("/orders", headers=bearer(token))
    assert resp.status_code == 503 and resp.headers["Retry-After"] == "5"


def test_checklist_28_flask_429_with_headers(flask_client, es256: Signer) -> None:
    token = es256.token()
    statuses = [flask_client.get("/orders", headers=bearer(token)).status_code for _ in range(10)]
    assert statuses == [200] * 10
    resp = flask_client.get("/orders", headers=bearer(token))
    assert resp.status_code == 429
    assert resp.headers["RateLimit-Remaining"] == "0"
    assert int(resp.headers["Retry-After"]) >= 1


def test_wsgi_middleware(guard, es256: Signer) -> None:
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        token = environ.get(ENVIRON_KEY)
        return [token.client_id.encode() if token else b"anonymous"]

    wrapped = TesseraWSGIMiddleware(
        app,
        guard,
        scopes_for=lambda method, path: ["orders:write"] if method == "POST" else ["orders:read"],
        exempt_paths=["/health"],
    )
    client = Client(wrapped)
    ok = client.get("/x", headers=bearer(es256.token()))
    assert ok.status_code == 200 and ok.data == b"app-1" and ok.headers["RateLimit-Limit"]
    assert client.get("/health").status_code == 200
    assert client.get("/x").status_code == 401
    denied = client.post("/x", headers=bearer(es256.token(scope="orders:read")))
    assert denied.status_code == 403 and "insufficient_scope" in denied.headers["WWW-Authenticate"]
    refused = client.get("/x?access_token=" + es256.token())
    assert refused.status_code == 400


@pytest.fixture
def starlette_client(guard):
    async def me(request: Request) -> JSONResponse:
        return JSONResponse({"sub": request.state.access_token.subject})

    app = Starlette(routes=[Route("/me", me)])
    # As docs/middleware.md shows it, the way Starlette and FastAPI add a middleware.
    app.add_middleware(TesseraASGIMiddleware, guard=guard, scopes_for=lambda m, p: ["orders:read"])
    return TestClient(app)


def test_asgi_http(starlette_client, es256: Signer) -> None:
    resp = starlette_client.get("/me", headers=bearer(es256.token()))
    assert resp.status_code == 200 and resp.json() == {"sub": "user-1"}
    assert resp.headers["ratelimit-remaining"] == "9"
    assert starlette_client.get("/me").status_code == 401
    wrong = starlette_client.get("/me", headers=bearer(es256.token(scope="chat:read")))
    assert wrong.status_code == 403 and 'scope="orders:read"' in wrong.headers["www-authenticate"]


def test_checklist_24_asgi_query_token_refused(starlette_client, es256: Signer) -> None:
    resp = starlette_client.get("/me?access_token=" + es256.token())
    assert resp.status_code == 400
