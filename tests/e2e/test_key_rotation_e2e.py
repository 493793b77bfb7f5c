"""End to end, issue 11 part 5: keys rotate while a resource server verifies a stream of tokens.

A real Tessera on a loopback socket (publication delay 4 s) issues client_credentials tokens
over HTTP; a resource server's TokenVerifier (tessera_middleware) verifies each against the live
JWKS with a key cache that refetches at most every 2 s. `tessera keys rotate` runs in another
thread mid-stream: no token is ever rejected for an unknown key, and once the delay has passed
the tokens carry the new kid. A control shows the same verifier cache does miss a key rotated
in with `--now`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from tessera_middleware import TokenVerifier
from tessera_middleware.errors import InvalidToken

from tests.live_server import start_live_tessera, stop_live_tessera

pytestmark = pytest.mark.e2e

DELAY = 4  # TESSERA_KEY_PUBLICATION_DELAY here: longer than the verifier's 2 s key cache
CACHE_WINDOW = 2.0
MAX_TOKENS = 5000  # the stream's bound; it ends earlier, once NEW_KID_TOKENS carry the new kid
NEW_KID_TOKENS = 20


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[Any, str, tuple[str, str]]]:
    app, server, issuer = start_live_tessera(
        f"sqlite:///{tmp_path / 'tessera.db'}", tmp_path / "instance", KEY_PUBLICATION_DELAY=DELAY
    )
    try:
        created = _cli(
            app, "clients", "create", "--name", "Bot", "--type", "service", "--scope", "market:read"
        )
        yield app, issuer, (created["client_id"], created["client_secret"])
    finally:
        stop_live_tessera(app, server)


def _cli(app: Any, *args: str) -> Any:
    result = app.test_cli_runner().invoke(args=[*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def _verifier(issuer: str) -> TokenVerifier:
    return TokenVerifier(
        issuer,
        issuer + "/api",
        jwks_refetch_interval=CACHE_WINDOW,
        jwks_max_age=CACHE_WINDOW,
        cache_size=0,
    )


def _token(http: requests.Session, issuer: str, credentials: tuple[str, str]) -> str:
    response = http.post(
        issuer + "/oauth/token", data={"grant_type": "client_credentials"}, auth=credentials
    )
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def _kid(token: str) -> str:
    return jwt.get_unverified_header(token)["kid"]


def test_rotation_mid_stream_never_makes_a_resource_server_reject_an_unknown_key(live) -> None:
    app, issuer, credentials = live
    verifier, http = _verifier(issuer), requests.Session()
    rotated = threading.Event()
    new: dict[str, Any] = {}

    def rotate() -> None:
        new.update(_cli(app, "keys", "rotate", "--alg", "ES256")[0])
        rotated.set()

    rejections: list[str] = []
    kids: list[str] = []
    old_kid = _kid(_token(http, issuer, credentials))
    rotator = threading.Thread(target=rotate)
    for n in range(MAX_TOKENS):
        if n == 10:
            rotator.start()
        token = _token(http, issuer, credentials)
        try:
            verifier.verify(token)
        except InvalidToken as exc:
            rejections.append(f"{_kid(token)}: {exc}")
        kids.append(_kid(token))
        if kids.count(new.get("kid", "")) >= NEW_KID_TOKENS:
            break
    rotator.join()

    assert rotated.is_set() and new["state"] == "next"
    assert rejections == []
    assert kids.count(new["kid"]) == NEW_KID_TOKENS, f"no new-kid tokens in {len(kids)}"
    switch = kids.index(new["kid"])
    assert set(kids[:switch]) == {old_kid}  # the old key signed until the new one activated
    assert set(kids[switch:]) == {new["kid"]}
    assert switch > 10 + 1  # the rotation did not switch at once


def test_control_the_same_cache_misses_a_key_rotated_in_with_now(live) -> None:
    app, issuer, credentials = live
    verifier, http = _verifier(issuer), requests.Session()
    verifier.verify(_token(http, issuer, credentials))  # the JWKS is cached from here
    _cli(app, "keys", "rotate", "--alg", "ES256", "--now")
    with pytest.raises(InvalidToken, match="unknown key"):
        verifier.verify(_token(http, issuer, credentials))
