"""Delegated tokens (RFC 8693 ``act``): ``token.actor``, and routes that want the user in person.

A token Tessera issues by token exchange names the acting app in ``act`` (issue 16); a route
with ``allow_delegated=False`` answers it 401 ``insufficient_user_authentication`` (RFC 9470 3)
in every adapter, while the user's own tokens pass.
"""

from __future__ import annotations

import asyncio

import pytest
from fastapi import FastAPI, Security
from flask import Flask, g, jsonify
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient
from tessera_middleware import AccessToken, Actor, DelegationRefused, InvalidToken
from tessera_middleware.asgi import TesseraASGIMiddleware
from tessera_middleware.codec import WfmCodec
from tessera_middleware.fastapi_ext import install, require_scopes
from tessera_middleware.flask_ext import TesseraAuth, require_token
from tessera_middleware.testing import Signer
from tessera_middleware.ws import WebSocketSession
from tessera_middleware.wsgi import TesseraWSGIMiddleware
from werkzeug.test import Client

READ = Security(require_scopes("orders:read"))
IN_PERSON = Security(require_scopes("orders:write", allow_delegated=False))
BOT = {"sub": "discord-bot", "client_id": "discord-bot"}
REFUSED = 'error="insufficient_user_authentication"'


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- the verified token --------------------------------------------------------------------


def test_a_token_without_act_has_no_actor(verifier, es256: Signer) -> None:
    token = verifier.verify(es256.token())
    assert token.actor is None and token.is_delegated is False


def test_the_act_claim_becomes_token_actor(verifier, es256: Signer) -> None:
    token = verifier.verify(es256.token(act=BOT))
    assert token.actor == Actor("discord-bot", "discord-bot")
    assert token.actor.id == "discord-bot" and token.is_delegated
    assert token.subject == "user-1"  # the user the bot acts for stays the subject


def test_a_chain_of_actors_keeps_the_prior_ones(verifier, es256: Signer) -> None:
    chain = {"sub": "relay", "act": {"client_id": "discord-bot"}}
    actor = verifier.verify(es256.token(act=chain)).actor
    assert actor == Actor("relay", None, Actor(None, "discord-bot"))
    assert actor.id == "relay" and actor.prior.id == "discord-bot"


@pytest.mark.parametrize(
    "act",
    [
        "discord-bot",  # not an object
        ["discord-bot"],
        {},  # names no one
        {"sub": 7},
        {"client_id": ["a"]},
        {"sub": "bot", "act": "x"},  # a malformed prior actor
        {"sub": ""},
    ],
)
def test_a_malformed_act_claim_is_an_invalid_token(verifier, es256: Signer, act) -> None:
    # Taken as "no actor", a bot's token would pass routes that want the user in person.
    with pytest.raises(InvalidToken, match="act claim is malformed"):
        verifier.verify(es256.token(act=act))


def test_act_null_is_refused_not_read_as_absent(verifier, es256: Signer) -> None:
    import jwt

    claims = {**es256.claims(), "act": None}  # Signer drops None overrides: sign it by hand
    raw = jwt.encode(
        claims, es256.key, algorithm="ES256", headers={"typ": "at+jwt", "kid": es256.kid}
    )
    with pytest.raises(InvalidToken, match="act claim is malformed"):
        verifier.verify(raw)


def test_an_endless_chain_of_actors_is_refused(verifier, es256: Signer) -> None:
    act: dict = {"sub": "a0"}
    for n in range(1, 12):
        act = {"sub": f"a{n}", "act": act}
    with pytest.raises(InvalidToken, match="act claim is malformed"):
        verifier.verify(es256.token(act=act))


# -- the refusal, in each adapter ----------------------------------------------------------


def test_flask_route_refuses_delegated_tokens_only_where_asked(guard, es256: Signer) -> None:
    app = Flask(__name__)
    TesseraAuth(app, guard)

    @app.get("/orders")
    @require_token("orders:read")
    def orders():
        actor = g.access_token.actor
        return jsonify(user=g.access_token.subject, actor=actor.id if actor else None)

    @app.post("/payouts")
    @require_token("orders:write", allow_delegated=False)
    def payout():
        return jsonify(ok=True)

    client = app.test_client()
    delegated = es256.token(act=BOT)
    read = client.get("/orders", headers=bearer(delegated))
    assert read.status_code == 200 and read.json == {"user": "user-1", "actor": "discord-bot"}
    refused = client.post("/payouts", headers=bearer(delegated))
    assert refused.status_code == 401
    assert refused.json["error"] == "insufficient_user_authentication"
    challenge = refused.headers["WWW-Authenticate"]
    assert challenge.startswith(f'Bearer realm="orders-api", {REFUSED}')
    assert client.post("/payouts", headers=bearer(es256.token())).status_code == 200


def test_wsgi_allow_delegated_for(guard, es256: Signer) -> None:
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    wrapped = TesseraWSGIMiddleware(
        app, guard, allow_delegated_for=lambda method, path: path != "/account"
    )
    client = Client(wrapped)
    delegated = bearer(es256.token(act=BOT))
    assert client.get("/market", headers=delegated).status_code == 200
    refused = client.get("/account", headers=delegated)
    assert refused.status_code == 401 and REFUSED in refused.headers["WWW-Authenticate"]
    assert client.get("/account", headers=bearer(es256.token())).status_code == 200


def test_asgi_allow_delegated_for(guard, es256: Signer) -> None:
    async def me(request: Request) -> JSONResponse:
        token = request.state.access_token
        return JSONResponse({"actor": token.actor.id if token.actor else None})

    app = Starlette(routes=[Route("/me", me), Route("/account", me)])
    app.add_middleware(
        TesseraASGIMiddleware,
        guard=guard,
        allow_delegated_for=lambda method, path: path != "/account",
    )
    client = TestClient(app)
    delegated = bearer(es256.token(act=BOT))
    assert client.get("/me", headers=delegated).json() == {"actor": "discord-bot"}
    refused = client.get("/account", headers=delegated)
    assert refused.status_code == 401 and REFUSED in refused.headers["www-authenticate"]
    assert client.get("/account", headers=bearer(es256.token())).json() == {"actor": None}


def test_fastapi_require_scopes_allow_delegated_false(guard, es256: Signer) -> None:
    app = FastAPI()
    install(app, guard)

    @app.get("/orders")
    async def orders(token: AccessToken = READ):
        return {"actor": token.actor.id if token.actor else None}

    @app.post("/payouts")
    async def payout(token: AccessToken = IN_PERSON):
        return {"user": token.subject}

    client = TestClient(app)
    delegated = bearer(es256.token(act=BOT))
    assert client.get("/orders", headers=delegated).json() == {"actor": "discord-bot"}
    refused = client.post("/payouts", headers=delegated)
    assert refused.status_code == 401
    assert refused.json() == {
        "error": "insufficient_user_authentication",
        "error_description": "this operation needs the user in person, not an app acting for them",
    }
    assert REFUSED in refused.headers["www-authenticate"]
    assert client.post("/payouts", headers=bearer(es256.token())).json() == {"user": "user-1"}


def test_a_websocket_command_refuses_a_delegated_session_without_closing_it(
    guard, es256: Signer
) -> None:
    sent: list[str] = []
    closed: list[int] = []

    async def send_text(text: str) -> None:
        sent.append(text)

    async def close(code: int, reason: str) -> None:
        closed.append(code)

    async def run() -> None:
        token = guard.verifier.verify(es256.token(act=BOT))
        session = WebSocketSession(guard, token, send_text=send_text, close=close, codec=WfmCodec())
        assert (await session.authorize("orders:read")).actor.id == "discord-bot"
        with pytest.raises(DelegationRefused) as refused:
            await session.authorize("orders:write", allow_delegated=False)
        await session.error_event(refused.value)

    asyncio.run(run())
    assert closed == [] and len(sent) == 1
    assert '"error": "insufficient_user_authentication"' in sent[0]
