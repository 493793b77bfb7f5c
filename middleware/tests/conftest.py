"""Fixtures: keys, tokens and a fake Tessera IdP made inside the tests (tessera_middleware.testing)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from tessera_middleware import TokenVerifier
from tessera_middleware.testing import AUDIENCE, ISSUER, FakeIdP, Signer, serve_fake_idp


@pytest.fixture
def idp() -> FakeIdP:
    return FakeIdP()


@pytest.fixture(params=["ES256", "RS256", "EdDSA"])
def signer(request: pytest.FixtureRequest, idp: FakeIdP) -> Signer:
    return idp.add(Signer(request.param))


@pytest.fixture
def es256(idp: FakeIdP) -> Signer:
    return idp.add(Signer("ES256"))


@pytest.fixture
def verifier(idp: FakeIdP) -> TokenVerifier:
    return TokenVerifier(ISSUER, AUDIENCE, http=idp)


@pytest.fixture
def http_idp() -> Iterator[tuple[str, FakeIdP]]:
    """The fake IdP behind a real HTTP server on a loopback port."""
    with serve_fake_idp() as served:
        yield served


@pytest.fixture
def revocations() -> Any:
    from tessera_middleware import RevocationState

    state = RevocationState(max_staleness=60)
    state.mark_synced()
    return state


@pytest.fixture
def guard(idp: FakeIdP, revocations: Any) -> Any:
    from tessera_middleware.guard import ResourceGuard
    from tessera_middleware.ratelimit import TierRateLimiter

    verifier = TokenVerifier(ISSUER, AUDIENCE, http=idp, revocations=revocations)
    limiter = TierRateLimiter("memory://", key_prefix=uuid.uuid4().hex)
    return ResourceGuard(verifier, rate_limiter=limiter, realm="orders-api")


@pytest.fixture
def flask_client(guard: Any) -> Any:
    """A Flask API protected by the guard: GET /orders (orders:read), POST (orders:write too)."""
    from flask import Flask, g, jsonify
    from tessera_middleware.flask_ext import TesseraAuth, require_token

    app = Flask(__name__)
    TesseraAuth(app, guard)

    @app.get("/orders")
    @require_token("orders:read")
    def orders():
        return jsonify(user=g.access_token.subject)

    @app.post("/orders")
    @require_token("orders:write", "orders:read")
    def create():
        return jsonify(ok=True)

    return app.test_client()
