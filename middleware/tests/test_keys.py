"""Keys that never blind the API (issue 14): single flight at a cold start, 503 while the
issuer is unreachable, an immediate refetch for an unknown kid, and async adapters that never
wait on the issuer on the event loop (docs/security.md#25)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping
from typing import Any

import httpx
import pytest
from freezegun import freeze_time
from tessera_middleware import InvalidToken, ServiceUnavailable, TokenVerifier
from tessera_middleware.asgi import TesseraASGIMiddleware
from tessera_middleware.guard import ResourceGuard
from tessera_middleware.http import HttpResponse
from tessera_middleware.testing import AUDIENCE, ISSUER, FakeIdP, Signer

# How long the slow issuer below takes to answer: the window in which a cold start races.
SLOW_ANSWER = 0.3


class GatedIdP:
    """A FakeIdP whose JWKS answers only when the test opens the gate (or, slow, after a delay)."""

    def __init__(self, idp: FakeIdP, *, delay: float | None = None) -> None:
        self.idp, self.delay = idp, delay
        self.gate, self.started = threading.Event(), threading.Event()
        self.gated = True

    def __call__(self, url: str, headers: Mapping[str, str]) -> HttpResponse:
        if url.endswith("/jwks") and self.gated:
            self.started.set()
            # A slow issuer: the gate is only a bound, its delay is the scenario under test.
            self.gate.wait(self.delay if self.delay is not None else 10)
        return self.idp(url, headers)


def test_cold_start_race_8_concurrent_requests_one_fetch_zero_401(idp: FakeIdP) -> None:
    signer = idp.add(Signer("ES256"))
    slow = GatedIdP(idp, delay=SLOW_ANSWER)
    verifier = TokenVerifier(ISSUER, AUDIENCE, http=slow)
    tokens = [signer.token(sub=f"user-{i}") for i in range(8)]
    start, outcomes = threading.Barrier(8), []

    def request(token: str) -> None:
        start.wait()
        try:
            outcomes.append(verifier.verify(token).subject)
        except Exception as exc:
            outcomes.append(repr(exc))

    threads = [threading.Thread(target=request, args=(t,)) for t in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(outcomes) == sorted(f"user-{i}" for i in range(8))
    assert idp.count("/jwks") == 1  # single flight: the seven others waited for it


def _asgi(guard: ResourceGuard) -> httpx.AsyncClient:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = scope["state"]["access_token"].subject.encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    transport = httpx.ASGITransport(app=TesseraASGIMiddleware(app, guard))
    return httpx.AsyncClient(transport=transport, base_url="http://api.test")


def _get(client: httpx.AsyncClient, token: str) -> Any:
    return client.get("/orders", headers={"Authorization": f"Bearer {token}"})


def test_asgi_cold_start_8_concurrent_requests_zero_401(idp: FakeIdP) -> None:
    signer = idp.add(Signer("ES256"))
    guard = ResourceGuard(TokenVerifier(ISSUER, AUDIENCE, http=GatedIdP(idp, delay=SLOW_ANSWER)))

    async def main() -> list[int]:
        async with _asgi(guard) as client:
            replies = await asyncio.gather(*(_get(client, signer.token()) for _ in range(8)))
        return [r.status_code for r in replies]

    assert asyncio.run(main()) == [200] * 8
    assert idp.count("/jwks") == 1


def test_issuer_down_at_a_fresh_start_is_503_never_401(idp: FakeIdP, flask_client: Any) -> None:
    signer = idp.add(Signer("ES256"))
    idp.fail = True
    with freeze_time("2030-01-01 12:00:00") as frozen:
        for _ in range(5):  # the first fails to fetch; the next ones must not turn into 401
            resp = flask_client.get(
                "/orders", headers={"Authorization": f"Bearer {signer.token()}"}
            )
            assert resp.status_code == 503
            assert resp.json["error_description"] == "the issuer is unreachable"
            assert 1 <= int(resp.headers["Retry-After"]) <= 5
        assert idp.count("/.well-known/openid-configuration") == 1  # one try, retried in 5 s
        idp.fail = False
        frozen.tick(5)
        resp = flask_client.get("/orders", headers={"Authorization": f"Bearer {signer.token()}"})
        assert resp.status_code == 200


def test_issuer_down_with_keys_cached_an_unknown_kid_is_503(idp: FakeIdP) -> None:
    known = idp.add(Signer("ES256"))
    verifier = TokenVerifier(ISSUER, AUDIENCE, http=idp, jwks_refetch_interval=10)
    with freeze_time("2030-01-01 12:00:00") as frozen:
        verifier.verify(known.token())
        idp.fail = True
        frozen.tick(10)
        rotated_in = Signer("ES256")  # the issuer may well have published it: we cannot know
        for _ in range(3):
            with pytest.raises(ServiceUnavailable, match="unreachable"):
                verifier.verify(rotated_in.token())
        assert verifier.verify(known.token()).subject == "user-1"  # cached keys still serve


def test_unknown_kid_refetches_at_once_then_401_if_still_absent(idp: FakeIdP) -> None:
    old = idp.add(Signer("ES256"))
    verifier = TokenVerifier(ISSUER, AUDIENCE, http=idp, jwks_refetch_interval=10)
    with freeze_time("2030-01-01 12:00:00") as frozen:
        verifier.verify(old.token())
        frozen.tick(10)
        new = idp.add(Signer("EdDSA"))  # rotated in at the issuer
        assert verifier.verify(new.token()).subject == "user-1"  # the first sight refetches
        assert idp.count("/jwks") == 2
        with pytest.raises(InvalidToken, match="unknown key"):
            verifier.verify(Signer("ES256").token())  # absent: 401, and no fetch (rate limit)
        assert idp.count("/jwks") == 2


def test_asgi_hung_jwks_fetch_does_not_block_another_request(idp: FakeIdP) -> None:
    old = idp.add(Signer("ES256"))
    gated = GatedIdP(idp)
    gated.gated = False
    guard = ResourceGuard(TokenVerifier(ISSUER, AUDIENCE, http=gated, jwks_refetch_interval=0))

    async def main() -> None:
        async with _asgi(guard) as client:
            assert (await _get(client, old.token())).status_code == 200
            gated.gated = True  # from now on the issuer hangs
            new = idp.add(Signer("ES256"))
            waiting = asyncio.create_task(_get(client, new.token(sub="new")))
            assert await asyncio.to_thread(gated.started.wait, 5)
            other = await asyncio.wait_for(_get(client, old.token(sub="other")), 2)
            assert other.status_code == 200 and other.text == "other"
            assert not waiting.done()  # still waiting for the issuer, off the loop
            gated.gate.set()
            assert (await waiting).text == "new"

    asyncio.run(main())


def test_asgi_fetch_past_its_timeout_is_a_503_and_the_loop_runs_on(idp: FakeIdP) -> None:
    signer = idp.add(Signer("ES256"))
    gated = GatedIdP(idp)
    guard = ResourceGuard(TokenVerifier(ISSUER, AUDIENCE, http=gated), fetch_timeout=0.2)

    async def main() -> httpx.Response:
        async with _asgi(guard) as client:
            resp = await _get(client, signer.token())
        gated.gate.set()  # let the fetch finish in its thread
        return resp

    resp = asyncio.run(main())
    assert resp.status_code == 503 and resp.headers["Retry-After"]
    assert resp.json()["error_description"] == "the issuer is unreachable"
