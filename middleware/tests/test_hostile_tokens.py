"""Hostile tokens get 401 invalid_token from every adapter, never a 500 or a 1011 (issue 12.12).

docs/security.md#23 (algorithm allow-list, the algorithm taken from the key) and #26 (RFC 6750
errors): a token is bounded in size before any parsing, its header is parsed defensively, and
the algorithm comes from the key (RFC 8725 3.1), the header's ``alg`` only has to equal it.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket, WebSocketDisconnect
from tessera_middleware import InvalidToken, TokenVerifier
from tessera_middleware.asgi import TesseraASGIMiddleware
from tessera_middleware.jwks import parse_jwks
from tessera_middleware.testing import AUDIENCE, ISSUER, FakeIdP, Signer
from tessera_middleware.verifier import DEFAULT_MAX_TOKEN_SIZE
from tessera_middleware.wsgi import TesseraWSGIMiddleware
from test_websockets import ORIGIN, ws_server_ctx
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from werkzeug.test import Client


def _enc(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _forge(header: object, claims: object | None = None, signature: bytes = b"") -> str:
    head = header if isinstance(header, bytes) else json.dumps(header).encode()
    return ".".join([_enc(head), _enc(json.dumps(claims or {}).encode()), _enc(signature)])


def nested_header_token(depth: int = 2000) -> str:
    """The reported token: unsigned, ~5.4 KB, a header nested deeper than json's recursion."""
    header = b'{"alg":"none","typ":"at+jwt","kid":"k","x":' + b"[" * depth + b"]" * depth + b"}"
    return _forge(header)


def hostile_tokens(es256: Signer, idp: FakeIdP) -> dict[str, str]:
    """Each of these made some path raise something other than InvalidToken before."""
    impostor = Signer("RS256", kid=es256.kid)  # the EC key's kid on an RS256 token
    return {
        "nested-header": nested_header_token(),
        "alg-is-a-list": _forge({"alg": ["ES256"], "typ": "at+jwt", "kid": es256.kid}),
        "alg-is-an-object": _forge({"alg": {"ES256": 1}, "typ": "at+jwt", "kid": es256.kid}),
        "ec-kid-with-rs256": impostor.token(),
        "header-not-utf8": _forge(b'{"alg":"ES256","kid":"\xff\xfe"}'),
        "header-is-a-list": _forge([1, 2, 3]),
        "oversized": es256.token(pad="x" * DEFAULT_MAX_TOKEN_SIZE),
    }


# -- the verifier ------------------------------------------------------------------------


def test_issue12_nested_unsigned_header_is_invalid_token(verifier: TokenVerifier) -> None:
    token = nested_header_token()
    assert 5000 < len(token) < DEFAULT_MAX_TOKEN_SIZE  # under the size bound: parsed, and safe
    with pytest.raises(InvalidToken, match="malformed"):
        verifier.verify(token)


@pytest.mark.parametrize("alg", [["ES256"], {"ES256": 1}, 256, None, True])
def test_checklist_23_alg_of_the_wrong_type_is_invalid_token(
    es256: Signer, verifier: TokenVerifier, alg: object
) -> None:
    with pytest.raises(InvalidToken, match="algorithm"):
        verifier.verify(_forge({"alg": alg, "typ": "at+jwt", "kid": es256.kid}, es256.claims()))


def test_issue12_token_size_bounded_before_any_parsing(es256: Signer, idp: FakeIdP) -> None:
    verifier = TokenVerifier(ISSUER, AUDIENCE, http=idp)
    assert verifier.max_token_size == DEFAULT_MAX_TOKEN_SIZE == 8192
    big = es256.token(pad="x" * DEFAULT_MAX_TOKEN_SIZE)  # validly signed, but too large
    with pytest.raises(InvalidToken, match="too large"):
        verifier.verify(big)
    assert idp.requests == []  # refused before the header was read or a key fetched
    roomy = TokenVerifier(ISSUER, AUDIENCE, http=idp, max_token_size=len(big))
    assert roomy.verify(big).subject == "user-1"


@pytest.mark.parametrize("size", [0, -1, 100])
def test_issue12_token_size_bound_must_fit_a_real_token(size: int) -> None:
    with pytest.raises(ValueError, match="max_token_size"):
        TokenVerifier(ISSUER, AUDIENCE, max_token_size=size)


@pytest.mark.parametrize("garbage", ["\ud800.a.b", "é.e.e", "a\x00.b.c", "a.b.c\n"])
def test_issue12_non_ascii_or_control_characters_are_invalid_token(
    verifier: TokenVerifier, garbage: str
) -> None:
    with pytest.raises(InvalidToken, match="malformed"):
        verifier.verify(garbage)


@pytest.mark.parametrize("name", ["nested-header", "alg-is-a-list", "header-not-utf8"])
def test_issue12_hostile_header_never_escapes_as_another_exception(
    es256: Signer, idp: FakeIdP, verifier: TokenVerifier, name: str
) -> None:
    with pytest.raises(InvalidToken):
        verifier.verify(hostile_tokens(es256, idp)[name])


def test_checklist_23_ec_kid_with_rs256_is_invalid_token(
    es256: Signer, verifier: TokenVerifier
) -> None:
    impostor = Signer("RS256", kid=es256.kid)
    with pytest.raises(InvalidToken, match="does not match its key"):
        verifier.verify(impostor.token())


def test_checklist_23_rsa_kid_with_es256_is_invalid_token(
    idp: FakeIdP, verifier: TokenVerifier
) -> None:
    rsa = idp.add(Signer("RS256"))
    with pytest.raises(InvalidToken, match="does not match its key"):
        verifier.verify(Signer("ES256", kid=rsa.kid).token())


def test_checklist_23_algorithm_comes_from_the_key_not_the_header() -> None:
    rsa, ec, ed = Signer("RS256"), Signer("ES256"), Signer("EdDSA")
    keys = parse_jwks({"keys": [rsa.jwk(), ec.jwk(), ed.jwk()]})
    assert {kid: k.alg for kid, k in keys.items()} == {
        rsa.kid: "RS256",  # an RSA JWK without "alg" is the IdP's RS256 key
        ec.kid: "ES256",  # from crv P-256
        ed.kid: "EdDSA",  # from kty OKP, crv Ed25519
    }
    pinned = parse_jwks({"keys": [{**rsa.jwk(), "alg": "PS256"}]})
    assert pinned[rsa.kid].alg == "PS256"
    # A JWK whose "alg" does not fit its key type is an IdP error: the key is not trusted.
    assert parse_jwks({"keys": [{**ec.jwk(), "alg": "RS256"}]}) == {}
    assert parse_jwks({"keys": [{**rsa.jwk(), "alg": ["RS256"]}]}) == {}


def test_checklist_23_header_alg_must_equal_the_pinned_jwk_alg(idp: FakeIdP) -> None:
    rsa = Signer("RS256")
    idp.signers.append(rsa)
    original = idp.route

    def route(url, headers):  # the IdP pins PS256 on this RSA key
        status, body = original(url, headers)
        if url.endswith("/jwks"):
            body = {"keys": [{**k, "alg": "PS256"} for k in body["keys"]]}
        return status, body

    idp.route = route  # type: ignore[method-assign]
    verifier = TokenVerifier(ISSUER, AUDIENCE, http=idp, algorithms=["RS256", "PS256"])
    with pytest.raises(InvalidToken, match="does not match its key"):
        verifier.verify(rsa.token())  # a valid RS256 signature, but the key is PS256's


def test_issue12_non_finite_exp_is_invalid_token(es256: Signer, verifier: TokenVerifier) -> None:
    for value in (float("nan"), float("inf")):
        with pytest.raises(InvalidToken, match="exp"):
            verifier.verify(es256.token(exp=value))


def test_issue12_out_of_range_tier_falls_back_to_the_default(
    es256: Signer, verifier: TokenVerifier
) -> None:
    token = es256.token(tier={"name": "x", "rps": float("inf"), "burst": float("inf")})
    assert verifier.verify(token).tier == verifier.default_tier


# -- the adapters --------------------------------------------------------------------------


def _challenge_is_invalid_token(status: int, challenge: str | None) -> bool:
    return status == 401 and challenge is not None and 'error="invalid_token"' in challenge


def test_issue12_flask_answers_hostile_tokens_with_401(flask_client, es256, idp) -> None:
    for name, token in hostile_tokens(es256, idp).items():
        resp = flask_client.get("/orders", headers={"Authorization": f"Bearer {token}"})
        assert _challenge_is_invalid_token(
            resp.status_code, resp.headers.get("WWW-Authenticate")
        ), name


def test_issue12_wsgi_answers_hostile_tokens_with_401(guard, es256, idp) -> None:
    def app(environ, start_response):
        start_response("200 OK", [])
        return [b"ok"]

    client = Client(TesseraWSGIMiddleware(app, guard))
    for name, token in hostile_tokens(es256, idp).items():
        resp = client.get("/x", headers={"Authorization": f"Bearer {token}"})
        assert _challenge_is_invalid_token(
            resp.status_code, resp.headers.get("WWW-Authenticate")
        ), name


def _asgi_app(guard):
    async def me(request: Request) -> JSONResponse:
        return JSONResponse({"sub": request.state.access_token.subject})

    async def live(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.close()

    routes = [Route("/me", me), WebSocketRoute("/live", live)]
    return TesseraASGIMiddleware(Starlette(routes=routes), guard, websocket_origins=[ORIGIN])


def test_issue12_asgi_http_answers_hostile_tokens_with_401(guard, es256, idp) -> None:
    client = TestClient(_asgi_app(guard))
    for name, token in hostile_tokens(es256, idp).items():
        resp = client.get("/me", headers={"Authorization": f"Bearer {token}"})
        assert _challenge_is_invalid_token(
            resp.status_code, resp.headers.get("www-authenticate")
        ), name


def test_issue12_asgi_websocket_refuses_hostile_tokens_with_1008(guard, es256, idp) -> None:
    client = TestClient(_asgi_app(guard))
    for name, token in hostile_tokens(es256, idp).items():
        headers = {"Authorization": f"Bearer {token}", "Origin": ORIGIN}
        with (
            pytest.raises(WebSocketDisconnect) as info,
            client.websocket_connect("/live", headers=headers),
        ):
            pass
        assert info.value.code == 1008, name


def _run_asgi(app, scope: dict) -> list[dict]:
    sent: list[dict] = []

    async def receive() -> dict:
        return (
            {"type": "websocket.connect"}
            if scope["type"] == "websocket"
            else {
                "type": "http.request",
                "body": b"",
            }
        )

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


def test_issue12_asgi_query_string_not_utf8_is_a_400_not_a_crash(guard) -> None:
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/me",
        "headers": [],
        "query_string": b"access_token=\xff\xfe",
    }
    sent = _run_asgi(_asgi_app(guard), scope)
    assert sent[0]["status"] == 400


def test_issue12_asgi_repeated_authorization_header_is_invalid_request(guard, es256) -> None:
    token = es256.token().encode()
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/me",
        "query_string": b"",
        "headers": [(b"authorization", b"Bearer " + token), (b"authorization", b"Bearer x")],
    }
    sent = _run_asgi(_asgi_app(guard), scope)
    assert sent[0]["status"] == 400


# websockets' handshake reader refuses header lines over 8 KiB itself, before our hook runs.
_HANDSHAKE_SAFE = ("nested-header", "alg-is-a-list", "ec-kid-with-rs256", "header-is-a-list")


def test_issue12_websockets_handshake_answers_hostile_tokens_with_401(guard, es256, idp) -> None:
    tokens = hostile_tokens(es256, idp)

    async def scenario() -> None:
        async with ws_server_ctx(guard) as (url, _clock):
            for name in _HANDSHAKE_SAFE:
                headers = {"Authorization": f"Bearer {tokens[name]}"}
                with pytest.raises(InvalidStatus) as info:
                    async with connect(url, origin=ORIGIN, additional_headers=headers):
                        pass
                assert info.value.response.status_code == 401, name

    asyncio.run(scenario())


@pytest.mark.parametrize("name", ["Authorization", "Origin"])
def test_issue12_websockets_repeated_handshake_header_is_refused_not_a_crash(
    guard, es256, name
) -> None:
    token = es256.token(scope="ws:connect")
    values = {"Authorization": f"Bearer {token}", "Origin": ORIGIN}

    async def scenario() -> None:
        async with ws_server_ctx(guard) as (url, _clock):
            headers = [("Authorization", values["Authorization"]), (name, values[name])]
            with pytest.raises(InvalidStatus) as info:
                async with connect(url, origin=ORIGIN, additional_headers=headers):
                    pass
            assert info.value.response.status_code in (400, 403)

    asyncio.run(scenario())


def _sign_in_message(token: str) -> str:
    return json.dumps({"type": "auth", "token": token})


def test_issue12_websocket_in_band_sign_in_closes_1008_on_hostile_input(guard, es256, idp) -> None:
    messages = {name: _sign_in_message(t) for name, t in hostile_tokens(es256, idp).items()}
    messages["surrogate"] = '{"type": "auth", "token": "\\ud800.a.b"}'
    messages["nested-message"] = '{"type": "auth", "token": ' + "[" * 5000 + "]" * 5000 + "}"
    messages["huge-message"] = _sign_in_message("a" * 200_000)

    async def scenario() -> None:
        async with ws_server_ctx(guard, in_band=True) as (url, _c):
            for name, message in messages.items():
                async with connect(url, origin=ORIGIN) as ws:
                    await ws.send(message)
                    with pytest.raises(ConnectionClosed) as info:
                        await ws.recv()
                    assert info.value.rcvd is not None and info.value.rcvd.code == 1008, name

    asyncio.run(scenario())


def test_issue12_flask_401_for_hostile_tokens_costs_no_key_fetch_when_oversized(
    flask_client, es256, idp
) -> None:
    token = es256.token(pad="x" * DEFAULT_MAX_TOKEN_SIZE, exp=int(time.time()) + 60)
    resp = flask_client.get("/orders", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 401 and "too large" in resp.headers["WWW-Authenticate"]
    assert idp.count("/jwks") == 0
