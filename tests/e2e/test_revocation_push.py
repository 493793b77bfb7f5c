"""End to end: revocations pushed from Tessera's outbox to the middleware, over a Redis stream
and over Server-Sent Events (docs/revocation-events.md).

Tessera runs on a real socket with its own throwaway redis-server; tokens come from the real
token endpoint and are revoked through the real revocation endpoint (RFC 7009). The feed's
poll interval is 5 s, so a revocation seen within 1 s came through the pushed channel.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import redis
import requests
from tessera_middleware import RevocationFeedPoller, RevocationState, TokenVerifier
from tessera_middleware.errors import InvalidToken
from tessera_middleware.redis_stream import RedisRevocationStream
from tessera_middleware.sse import SseRevocationStream

from idp.extensions import db
from idp.storage.models import RevocationEvent
from tests.conftest import TEST_SECRET
from tests.e2e.stack import App, seed
from tests.integration.redis_servers import TesseraServe, ThrowawayRedis
from tests.live_server import start_live_tessera, stop_live_tessera

pytestmark = pytest.mark.e2e


class Tessera:
    def __init__(self, tmp: Path) -> None:
        self.redis = ThrowawayRedis().start()
        self.database = f"sqlite:///{tmp / 'tessera.db'}"
        self.app, self.server, self.issuer = start_live_tessera(
            self.database,
            tmp / "instance",
            REDIS_URL=self.redis.url,
            REVOCATION_POLL_INTERVAL=5,
        )
        self.apps: dict[str, App] = seed(self.app)
        self.outbox = self.app.extensions["tessera"].outbox
        with self.app.app_context():
            self.outbox.start(db.engine)

    def token(self, name: str = "bot") -> str:
        app = self.apps[name]
        response = requests.post(
            f"{self.issuer}/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(app.client_id, app.secret or ""),
            timeout=10,
        )
        assert response.status_code == 200, response.text
        return response.json()["access_token"]

    def revoke(self, token: str, name: str = "bot") -> None:
        app = self.apps[name]
        response = requests.post(
            f"{self.issuer}/oauth/revoke",
            data={"token": token},
            auth=(app.client_id, app.secret or ""),
            timeout=10,
        )
        assert response.status_code == 200, response.text

    def poller(self) -> RevocationFeedPoller:
        rs = self.apps["resource_server"]
        return RevocationFeedPoller(
            RevocationState(),
            issuer=self.issuer,
            client_id=rs.client_id,
            client_secret=rs.secret or "",
        )

    def close(self) -> None:
        self.outbox.stop()
        stop_live_tessera(self.app, self.server)
        self.redis.stop()


@pytest.fixture(scope="module")
def tessera(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tessera]:
    running = Tessera(tmp_path_factory.mktemp("push"))
    try:
        yield running
    finally:
        running.close()


def within(seconds: float, condition: Callable[[], Any]) -> float:
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        if condition():
            return time.monotonic() - start
        time.sleep(0.01)  # polling what a resource server observes, with a deadline
    raise AssertionError(f"not within {seconds} s")


def verifier(tessera: Tessera, state: RevocationState, token: str) -> TokenVerifier:
    audience = jwt.decode(token, options={"verify_signature": False})["aud"]
    return TokenVerifier(tessera.issuer, audience, revocations=state, cache_size=0)


def refused(check: TokenVerifier, token: str) -> bool:
    try:
        check.verify(token)
    except InvalidToken:
        return True
    return False


def test_a_revocation_reaches_a_redis_stream_follower_within_a_second(tessera: Tessera):
    poller = tessera.poller()
    follower = RedisRevocationStream(poller.state, poller, tessera.redis.url, issuer=tessera.issuer)
    follower.start()
    try:
        within(5, follower.following.is_set)
        token = tessera.token()
        check = verifier(tessera, poller.state, token)
        check.verify(token)
        tessera.revoke(token)
        within(1.0, lambda: refused(check, token))
    finally:
        follower.stop()


def test_a_revocation_reaches_an_sse_follower_within_a_second(tessera: Tessera):
    poller = tessera.poller()
    follower = SseRevocationStream(poller.state, poller)
    follower.start()
    try:
        within(5, lambda: follower.connected.is_set() and follower.last_id is not None)
        token = tessera.token()
        check = verifier(tessera, poller.state, token)
        check.verify(token)
        tessera.revoke(token)
        within(1.0, lambda: refused(check, token))
    finally:
        follower.stop()


def read_events(tessera: Tessera, count: int, last_event_id: str | None = None) -> list[dict]:
    """The first `count` events of a fresh stream, as {"event", "id", "data"}."""
    rs = tessera.apps["resource_server"]
    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    url = f"{tessera.issuer}/oauth/revocations/stream"
    events, fields = [], {}
    with requests.get(
        url, headers=headers, auth=(rs.client_id, rs.secret or ""), stream=True, timeout=5
    ) as response:
        assert response.status_code == 200, response.text
        assert response.headers["Content-Type"].startswith("text/event-stream")
        for line in response.iter_lines(decode_unicode=True):
            if line:
                name, _, value = line.partition(": ")
                fields[name] = value
            elif "data" in fields:
                events.append({**fields, "data": json.loads(fields["data"])})
                fields = {}
                if len(events) == count:
                    return events
            else:
                fields = {}
    raise AssertionError(f"the stream ended after {events}")


def test_the_event_stream_resumes_after_its_last_event_id(tessera: Tessera):
    first = read_events(tessera, 1)[0]
    assert first["event"] == "snapshot" and first["data"]["full"] is True
    start = int(first["id"])
    tokens = [tessera.token(), tessera.token()]
    for token in tokens:
        tessera.revoke(token)
    jtis = [jwt.decode(t, options={"verify_signature": False})["jti"] for t in tokens]
    resumed = read_events(tessera, 1, last_event_id=str(start + 1))[0]
    assert resumed["event"] == "revocation" and resumed["id"] == str(start + 2)
    assert resumed["data"] == {**resumed["data"], "v": 1, "type": "token", "subject": jtis[1]}
    unknown = read_events(tessera, 1, last_event_id=str(start + 1000))[0]
    assert unknown["event"] == "snapshot" and int(unknown["id"]) >= start + 2


def test_the_outbox_publishes_what_redis_missed_once_it_is_back(tessera: Tessera):
    stream = redis.Redis.from_url(tessera.redis.url, socket_timeout=2, decode_responses=True)
    key = tessera.outbox.key
    tessera.redis.stop()
    token = tessera.token()
    tessera.revoke(token)  # answers 200: the event is committed, only its push waits
    jti = jwt.decode(token, options={"verify_signature": False})["jti"]
    with tessera.app.app_context():
        row = db.session.query(RevocationEvent).filter_by(subject=jti).one()
        assert row.seq is not None and row.pushed is False
        seq = row.seq
    tessera.redis.start()
    # The outbox thread retries every second once its Redis back-off (5 s) is over.
    within(10, lambda: stream.xrange(key, f"{seq}-0", f"{seq}-0"))
    [(_entry_id, fields)] = stream.xrange(key, f"{seq}-0", f"{seq}-0")
    assert json.loads(fields["event"])["subject"] == jti


def test_a_gap_in_the_stream_reloads_the_snapshot(tessera: Tessera):
    poller = tessera.poller()
    follower = RedisRevocationStream(poller.state, poller, tessera.redis.url, issuer=tessera.issuer)
    follower.start()
    try:
        within(10, follower.following.is_set)
        lost, later = tessera.token(), tessera.token()
        shared, tessera.outbox.shared = tessera.outbox.shared, None  # Tessera's Redis link cut
        tessera.revoke(lost)
        with tessera.app.app_context():
            # As if its entry had been pushed and then trimmed away before anyone read it.
            jti = jwt.decode(lost, options={"verify_signature": False})["jti"]
            db.session.query(RevocationEvent).filter_by(subject=jti).update({"pushed": True})
            db.session.commit()
        tessera.outbox.shared = shared
        tessera.revoke(later)  # pushed: the follower sees its seq jump past the lost one
        check = verifier(tessera, poller.state, lost)
        within(1.0, lambda: refused(check, lost) and refused(check, later))
        assert poller.stream_seq is not None and follower.seq >= poller.stream_seq
    finally:
        follower.stop()


def test_the_event_stream_flows_through_tessera_serve(tessera: Tessera, tmp_path: Path):
    """Through granian and BufferedWSGI's streaming path, in another process than the one
    that commits the revocation (its worker learns of it from the database)."""
    serve = TesseraServe(
        tmp_path / "serve.log",
        workers=1,
        DATABASE_URL=tessera.database,
        SECRET_KEY=TEST_SECRET,
        ISSUER=tessera.issuer,
        INSTANCE_PATH=tmp_path / "instance",
    ).wait_ready()
    rs = tessera.apps["resource_server"]
    poller = RevocationFeedPoller(
        RevocationState(),
        endpoint=serve.url + "/oauth/revocations",
        client_id=rs.client_id,
        client_secret=rs.secret or "",
    )
    follower = SseRevocationStream(poller.state, poller)
    follower.start()
    try:
        within(10, lambda: follower.connected.is_set() and follower.last_id is not None)
        token = tessera.token()
        check = verifier(tessera, poller.state, token)
        check.verify(token)
        tessera.revoke(token)
        within(1.0, lambda: refused(check, token))
    finally:
        follower.stop()
        serve.stop()


def test_the_node_example_rejects_a_revoked_token_within_a_second(tessera: Tessera):
    """examples/node_revocations: node's stdlib verifies the token and follows the SSE stream."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    rs = tessera.apps["resource_server"]
    token = tessera.token()
    env = {
        **os.environ,
        "TESSERA_ISSUER": tessera.issuer,
        "API_AUDIENCE": jwt.decode(token, options={"verify_signature": False})["aud"],
        "API_CLIENT_ID": rs.client_id,
        "API_CLIENT_SECRET": rs.secret or "",
        "PORT": "0",
    }
    script = Path(__file__).resolve().parents[2] / "examples" / "node_revocations" / "server.js"
    proc = subprocess.Popen(
        [node, str(script)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        assert "listening on" in line, line + proc.stdout.read(2000)  # type: ignore[union-attr]
        api = line.strip().rsplit(" ", 1)[-1]
        bearer = {"Authorization": f"Bearer {token}"}
        assert requests.get(api, headers=bearer, timeout=5).status_code == 200
        tessera.revoke(token)
        within(1.0, lambda: requests.get(api, headers=bearer, timeout=5).status_code == 401)
        answer = requests.get(api, headers=bearer, timeout=5).json()
        assert answer["error_description"] == "the token has been revoked"
    finally:
        proc.terminate()
        proc.wait(10)
