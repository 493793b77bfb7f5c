"""End to end, issue 14 (keys): a real Tessera on a loopback socket, a resource server's
TokenVerifier fetching discovery and the JWKS over HTTP. At a cold start 8 concurrent requests
share one JWKS fetch and none is refused; with Tessera down at a fresh start every valid token
gets 503 (the issuer is unreachable), never 401, and once Tessera is back the same tokens pass.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from tessera_middleware import ServiceUnavailable, TokenVerifier
from werkzeug.serving import make_server

from tests.e2e.test_key_rotation_e2e import _cli, _token
from tests.live_server import start_live_tessera, stop_live_tessera

pytestmark = pytest.mark.e2e


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[Any, Any, str, list[str], str]]:
    app, server, issuer = start_live_tessera(
        f"sqlite:///{tmp_path / 'tessera.db'}", tmp_path / "instance"
    )
    try:
        created = _cli(
            app, "clients", "create", "--name", "Bot", "--type", "service", "--scope", "market:read"
        )
        credentials = (created["client_id"], created["client_secret"])
        http = requests.Session()
        tokens = [_token(http, issuer, credentials) for _ in range(8)]
        yield app, server, issuer, tokens, created["client_id"]
    finally:
        stop_live_tessera(app, server)


class Clock:
    """The verifier's clock, moved by the test so the 5 s retry needs no waiting."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


def test_cold_start_8_concurrent_requests_share_one_fetch_and_none_is_refused(live) -> None:
    _app, _server, issuer, tokens, client_id = live
    verifier = TokenVerifier(issuer, issuer + "/api", cache_size=0)
    start, outcomes = threading.Barrier(len(tokens)), []

    def request(token: str) -> None:
        start.wait()
        try:
            outcomes.append(verifier.verify(token).client_id)
        except Exception as exc:
            outcomes.append(repr(exc))

    threads = [threading.Thread(target=request, args=(t,)) for t in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert outcomes == [client_id] * 8  # no 401, no 503
    assert verifier.keys.fetch_count == 1


def test_tessera_down_at_a_fresh_start_is_503_never_401_then_back(live) -> None:
    app, server, issuer, tokens, _client_id = live
    server.shutdown()
    server.server_close()  # connection refused from now on
    clock = Clock()
    verifier = TokenVerifier(issuer, issuer + "/api", cache_size=0, clock=clock)
    refused = []
    for token in tokens * 3:
        with pytest.raises(ServiceUnavailable) as info:
            verifier.verify(token)
        refused.append(info.value.description)
    assert set(refused) == {"the issuer is unreachable"}
    back = make_server("127.0.0.1", urlsplit(issuer).port, app, threaded=True)
    threading.Thread(target=back.serve_forever, daemon=True).start()
    try:
        clock.offset += 5  # the retry interval after a failed fetch
        assert {verifier.verify(token).jti for token in tokens} and verifier.keys.fetch_count == 2
    finally:
        back.shutdown()
        back.server_close()
