"""The pushed revocation channels' consumers (docs/revocation-events.md): the event contract,
the Redis stream follower's gap detection and start-up without Redis, and the SSE follower
against a real local HTTP server (snapshot, events, duplicates, resume with Last-Event-ID)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest
from tessera_middleware import RevocationFeedPoller, RevocationState
from tessera_middleware.redis_stream import RedisRevocationStream, _Gap
from tessera_middleware.revocation_events import default_stream_key, delta, parse
from tessera_middleware.sse import SseRevocationStream
from tessera_middleware.testing import ISSUER, FakeIdP
from tessera_middleware.tokens import AccessToken, Tier

FAR = 4_000_000_000


def event(seq: int, kind: str = "token", subject: str = "j-1", **extra) -> dict:
    return {"v": 1, "seq": seq, "id": 100 + seq, "type": kind, "subject": subject,
            "until": FAR, "at": 1_900_000_000, **extra}  # fmt: skip


def token(jti: str = "j-x", client_id: str = "app", iat: int = 1_899_999_000) -> AccessToken:
    return AccessToken("u", client_id, frozenset({"a:read"}), None, Tier(), FAR, jti, iat, {})


def wait_for(condition: Callable[[], object], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "not within the deadline"
        time.sleep(0.01)  # waiting on a real thread and socket


def test_each_event_type_becomes_the_feed_delta_the_state_applies():
    state = RevocationState(max_staleness=None)
    for doc in (
        delta(event(1, "token", "j-1")),
        delta(event(2, "grant", "g-1")),
        delta(event(3, "client_suspended", "bad")),
        delta(event(4, "client_cutoff", "old", at=1_900_000_000)),
    ):
        state.apply(doc)
    assert state.revoked_reason(token("j-1")) == "the token has been revoked"
    assert state.revoked_reason(token(client_id="bad")) == "the app has been suspended"
    assert state.revoked_reason(token(client_id="old")) is not None
    assert state.revoked_reason(token(client_id="old", iat=1_900_000_001)) is None
    state.apply(delta(event(5, "client_restored", "bad")))
    assert state.revoked_reason(token(client_id="bad")) is None


def test_unknown_versions_types_and_garbage_are_skipped():
    assert parse(json.dumps({**event(1), "v": 2})) is None
    assert parse("not json") is None and parse(json.dumps({**event(1), "seq": "1"})) is None
    assert delta(parse(json.dumps(event(1, "user_logged_out")))) is None
    assert parse(json.dumps(event(1))) == event(1)


def test_the_default_stream_key_is_tesseras():
    # idp/storage/redis_state.py deployment_prefix + ":revocations", for the same issuer.
    assert default_stream_key("https://id.example/") == default_stream_key("https://id.example")
    assert default_stream_key(ISSUER).startswith("tessera:")
    assert default_stream_key(ISSUER).endswith(":revocations")


def feed_poller(idp: FakeIdP, state: RevocationState, **kw) -> RevocationFeedPoller:
    return RevocationFeedPoller(state, client_id="rs", client_secret="s", http=idp, **kw)


def test_a_jump_in_the_stream_seq_is_a_gap(idp: FakeIdP):
    state = RevocationState(max_staleness=None)
    follower = RedisRevocationStream(state, feed_poller(idp, state, issuer=ISSUER), issuer=ISSUER)
    follower.seq = 5
    follower._apply([(b"6-0", {b"event": json.dumps(event(6, subject="j-6")).encode()})])
    assert follower.seq == 6 and state.revoked_reason(token("j-6"))
    with pytest.raises(_Gap):
        follower._apply([(b"8-0", {b"event": json.dumps(event(8, subject="j-8")).encode()})])
    assert state.revoked_reason(token("j-8")) is None  # the snapshot reload will bring it


def test_a_stream_started_again_behind_us_is_a_gap(idp: FakeIdP):
    class Restarted:
        def xrevrange(self, key, count):
            return [(b"3-0", {})]

    state = RevocationState(max_staleness=None)
    follower = RedisRevocationStream(
        state, feed_poller(idp, state, issuer=ISSUER), issuer=ISSUER, client=Restarted()
    )
    follower.seq = 3
    follower._check_restarted()  # at our position: nothing to do
    follower.seq = 9
    with pytest.raises(_Gap):
        follower._check_restarted()


def test_redis_down_at_start_up_polls_the_feed_instead_of_crashing(idp: FakeIdP):
    state = RevocationState(max_staleness=30)
    snapshot = {"full": True, "cursor": "9", "stream_seq": 4, "revoked_tokens": [
        {"jti": "j-1", "exp": FAR}]}  # fmt: skip
    idp.feed_responses = [(200, snapshot)] * 3
    poller = feed_poller(idp, state, issuer=ISSUER)
    follower = RedisRevocationStream(state, poller, "redis://127.0.0.1:1/0", issuer=ISSUER)
    follower.start()
    try:
        wait_for(lambda: state.last_sync is not None)
        assert state.revoked_reason(token("j-1")) and not follower.following.is_set()
        assert follower._thread is not None and follower._thread.is_alive()
    finally:
        follower.stop()


class Script:
    """What a local event-stream server sends, connection by connection."""

    def __init__(self, *connections: list[bytes]) -> None:
        self.connections = list(connections)
        self.headers: list[dict[str, str]] = []
        self.release = threading.Event()


def sse_server(script: Script) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def do_GET(self) -> None:
            script.headers.append(dict(self.headers))
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            chunks = script.connections.pop(0) if script.connections else []
            for chunk in chunks:
                self.wfile.write(chunk)
                self.wfile.flush()
            if not script.connections:
                script.release.wait(10)  # the last connection stays open

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def sse(name: str, event_id: int, data: dict) -> bytes:
    return f"id: {event_id}\nevent: {name}\ndata: {json.dumps(data)}\n\n".encode()


@pytest.fixture
def script() -> Iterator[Script]:
    snapshot = {"full": True, "cursor": "3", "revoked_tokens": [{"jti": "j-1", "exp": FAR}]}
    first = [b"retry: 1000\n\n", sse("snapshot", 5, snapshot), b": keep-alive\n\n",
             sse("revocation", 6, event(6, subject="j-2")),
             sse("revocation", 6, event(6, "client_suspended", "dup")),  # a duplicate: skipped
             sse("revocation", 7, event(7, subject="j-3"))]  # fmt: skip
    second = [sse("revocation", 8, event(8, subject="j-4"))]
    yield Script(first, second)


def test_the_sse_follower_applies_a_snapshot_then_events_and_resumes(idp: FakeIdP, script: Script):
    server = sse_server(script)
    state = RevocationState(max_staleness=30)
    endpoint = f"http://127.0.0.1:{server.server_port}/revocations"
    follower = SseRevocationStream(state, feed_poller(idp, state, endpoint=endpoint))
    follower.start()
    try:
        wait_for(lambda: follower.last_id == 8)
        for jti in ("j-1", "j-2", "j-3", "j-4"):
            assert state.revoked_reason(token(jti)) == "the token has been revoked"
        assert state.revoked_reason(token(client_id="dup")) is None
        assert "Last-Event-ID" not in script.headers[0]
        assert script.headers[1]["Last-Event-ID"] == "7"
        assert script.headers[1]["Authorization"].startswith("Basic ")
        assert not state.is_stale()
    finally:
        script.release.set()
        follower.stop()
        server.shutdown()


# -- finding the channels from the issuer's discovery document ------------------------------


def test_the_stream_key_is_the_one_the_issuer_advertises(idp: FakeIdP):
    idp.metadata = {"tessera_revocation_stream_key": "tessera:abc:revocations"}
    state = RevocationState(max_staleness=None)
    follower = RedisRevocationStream(state, feed_poller(idp, state, issuer=ISSUER))
    assert follower.resolve_key() == "tessera:abc:revocations"
    given = RedisRevocationStream(state, feed_poller(idp, state, issuer=ISSUER), key="mine")
    assert given.resolve_key() == "mine"


def test_an_issuer_that_advertises_no_stream_key_gets_the_derived_one(idp: FakeIdP):
    state = RevocationState(max_staleness=None)
    follower = RedisRevocationStream(state, feed_poller(idp, state, issuer=ISSUER))
    assert follower.resolve_key() == default_stream_key(ISSUER)


def test_discovery_down_is_retried_not_guessed(idp: FakeIdP):
    idp.fail = True
    state = RevocationState(max_staleness=None)
    follower = RedisRevocationStream(state, feed_poller(idp, state, issuer=ISSUER))
    with pytest.raises(OSError, match="metadata"):
        follower.resolve_key()
    idp.fail = False
    idp.metadata = {"tessera_revocation_stream_key": "tessera:abc:revocations"}
    assert follower.resolve_key() == "tessera:abc:revocations"


def test_a_follower_needs_the_key_or_an_issuer(idp: FakeIdP):
    state = RevocationState(max_staleness=None)
    poller = feed_poller(idp, state, endpoint=ISSUER + "/revocations")
    with pytest.raises(ValueError, match="stream key"):
        RedisRevocationStream(state, poller)


def test_the_sse_endpoint_is_the_advertised_one_else_the_feeds_plus_stream(idp: FakeIdP):
    state = RevocationState(max_staleness=None)
    idp.metadata = {"tessera_revocation_events_endpoint": ISSUER + "/events"}
    advertised = SseRevocationStream(state, feed_poller(idp, state, issuer=ISSUER))
    assert advertised.endpoint() == ISSUER + "/events"
    idp.metadata = {}
    older = SseRevocationStream(state, feed_poller(idp, state, issuer=ISSUER))
    assert older.endpoint() == ISSUER + "/revocations/stream"


@pytest.mark.parametrize("bad", [7, "", ["x"]])
def test_a_malformed_advertised_channel_is_ignored_not_fatal(idp: FakeIdP, bad):
    from tessera_middleware.jwks import fetch_metadata

    idp.metadata = {"tessera_revocation_stream_key": bad, "tessera_revocation_events_endpoint": bad}
    meta = fetch_metadata(ISSUER, idp)
    assert meta.jwks_uri == ISSUER + "/jwks"
    assert meta.revocation_stream_key is None and meta.revocation_events_endpoint is None


def test_an_unexpected_client_error_is_logged_and_the_feed_polled_not_fatal(idp: FakeIdP):
    class Broken:
        """A client that fails as redis-py did once its connection was closed under it."""

        def __init__(self) -> None:
            self.reads = 0
            self.connection_pool = SimpleNamespace(disconnect=lambda: None)

        def ping(self) -> bool:
            return True

        def xread(self, *args, **kwargs):
            self.reads += 1
            raise AttributeError("'NoneType' object has no attribute 'readline'")

    state = RevocationState(max_staleness=30)
    snapshot = {"full": True, "cursor": "9", "stream_seq": 4, "revoked_tokens": []}
    idp.feed_responses = [(200, snapshot)] * 20
    client = Broken()
    follower = RedisRevocationStream(
        state, feed_poller(idp, state, issuer=ISSUER), key="k", client=client
    )
    follower.poller.interval = 0.01
    follower.start()
    try:
        wait_for(lambda: client.reads >= 2)  # it went round again after the first failure
        assert follower._thread is not None and follower._thread.is_alive()
        assert state.last_sync is not None
    finally:
        follower.stop()
