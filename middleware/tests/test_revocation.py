"""Revocation feed, local state, staleness policy, Redis fan-out (docs/security.md#22)."""

from __future__ import annotations

import base64
import threading
import uuid

import pytest
from freezegun import freeze_time
from tessera_middleware import (
    InvalidToken,
    RevocationFeedPoller,
    RevocationState,
    ServiceUnavailable,
    TokenVerifier,
)
from tessera_middleware.testing import AUDIENCE, FEED, ISSUER, FakeIdP, Signer

T0 = 1_900_000_000


def feed(cursor: str, full: bool, **lists) -> tuple[int, dict]:
    return 200, {"cursor": cursor, "poll_interval": 7, "full": full, **lists}


@pytest.fixture
def state() -> RevocationState:
    return RevocationState(max_staleness=30)


def poller(state: RevocationState, idp: FakeIdP, **kw) -> RevocationFeedPoller:
    return RevocationFeedPoller(
        state, client_id="rs 1", client_secret="s:cret", issuer=ISSUER, http=idp, **kw
    )


def test_checklist_22_revoked_jti_gid_and_suspended_client(
    es256: Signer, idp: FakeIdP, state: RevocationState
) -> None:
    verifier = TokenVerifier(ISSUER, AUDIENCE, http=idp, revocations=state)
    by_jti, by_gid, by_client, fine = (
        es256.token(jti="j-1"),
        es256.token(gid="g-1"),
        es256.token(client_id="bad-app"),
        es256.token(),
    )
    for t in (by_jti, by_gid, by_client, fine):
        verifier.verify(t)  # all valid and now cached
    state.apply(
        {
            "full": False,
            "revoked_tokens": [{"jti": "j-1", "exp": 4_000_000_000}],
            "revoked_grants": [{"gid": "g-1", "until": 4_000_000_000}],
            "suspended_clients": ["bad-app"],
        }
    )
    for t, why in ((by_jti, "token has been"), (by_gid, "authorization"), (by_client, "suspended")):
        with pytest.raises(InvalidToken, match=why):
            verifier.verify(t)
    assert verifier.verify(fine).jti
    state.apply({"full": False, "restored_clients": ["bad-app"]})
    assert verifier.verify(by_client).client_id == "bad-app"


def test_checklist_22_poll_full_then_delta_with_cursor_and_basic_auth(
    idp: FakeIdP, state: RevocationState
) -> None:
    idp.feed_responses = [
        feed("c1", True, revoked_tokens=[{"jti": "a", "exp": T0 + 100}]),
        feed("c2", False, revoked_tokens=[{"jti": "b", "exp": T0 + 100}]),
        feed("c3", True, revoked_tokens=[{"jti": "b", "exp": T0 + 100}]),
    ]
    p = poller(state, idp)
    with freeze_time("2030-03-17 17:46:40"):  # T0
        assert p.poll_once() and p.cursor == "c1" and p.interval == 7
        assert p.poll_once() and set(state._jti) == {"a", "b"}
        assert p.poll_once() and set(state._jti) == {"b"}  # full replaces
    urls = [u for u, _ in idp.requests if "/revocations" in u]
    assert urls == [FEED, FEED + "?since=c1", FEED + "?since=c2"]
    auth = idp.requests[-1][1]["Authorization"]
    assert base64.b64decode(auth.split()[1]) == b"rs%201:s%3Acret"


@pytest.mark.parametrize("status,body", [(410, {}), (400, {"error": "invalid_cursor"})])
def test_checklist_22_invalid_cursor_refetches_full(
    idp: FakeIdP, state: RevocationState, status: int, body: dict
) -> None:
    idp.feed_responses = [
        feed("c1", True, suspended_clients=["x"]),
        (status, body),
        feed("c9", True, suspended_clients=["y"]),
    ]
    p = poller(state, idp)
    assert p.poll_once()
    assert p.poll_once() and p.cursor == "c9"
    assert state._suspended == {"y"}
    assert [u for u, _ in idp.requests if "/revocations" in u][-1] == FEED


def test_checklist_22_entries_pruned_at_expiry(state: RevocationState) -> None:
    with freeze_time("2030-03-17 17:46:40") as frozen:
        state.apply(
            {
                "full": True,
                "revoked_tokens": [{"jti": "a", "exp": T0 + 10}, {"jti": "b", "exp": T0 + 99}],
                "revoked_grants": [{"gid": "g", "until": T0 + 10}],
            }
        )
        assert len(state) == 3
        frozen.tick(11)
        state.prune()
        assert set(state._jti) == {"b"} and not state._gid


def test_checklist_22_feed_down_keeps_state_then_stale_fails_closed_for_writes(
    idp: FakeIdP, state: RevocationState
) -> None:
    idp.feed_responses = [feed("c1", True, revoked_tokens=[{"jti": "a", "exp": T0 + 999}])]
    p = poller(state, idp)
    with freeze_time("2030-03-17 17:46:40") as frozen:
        assert p.poll_once()
        state.check_fresh(["orders:write"])
        idp.fail = True
        frozen.tick(20)
        assert not p.poll_once()
        assert "a" in state._jti  # last known state kept
        state.check_fresh(["orders:write"])  # within max_staleness
        frozen.tick(11)
        assert state.is_stale()
        state.check_fresh(["orders:read", "profile"])  # reads fail open
        with pytest.raises(ServiceUnavailable, match="stale"):
            state.check_fresh(["orders:read", "orders:write"])  # writes fail closed


def test_staleness_predicate_is_configurable() -> None:
    state = RevocationState(max_staleness=1, is_write=lambda s: s.startswith("admin"))
    state.check_fresh(["orders:write"])
    with pytest.raises(ServiceUnavailable):
        state.check_fresh(["admin"])


def test_poller_thread_polls_and_stops(idp: FakeIdP, state: RevocationState) -> None:
    polled = threading.Event()
    idp.feed_responses = [feed("c1", True, revoked_tokens=[{"jti": "z", "exp": 4e9}])]
    state.add_listener(lambda doc: polled.set())
    p = poller(state, idp)
    p.start()
    try:
        assert polled.wait(5)
    finally:
        p.stop()
    assert p._thread is None and "z" in state._jti


def _redis():
    try:
        import redis

        client = redis.Redis.from_url("redis://127.0.0.1:6379/15", socket_timeout=2)
        client.ping()
        return client
    except Exception:
        return None


@pytest.mark.skipif(_redis() is None, reason="Redis at 127.0.0.1:6379 unreachable")
def test_checklist_22_redis_stream_reaches_every_process_state(idp: FakeIdP) -> None:
    """Each process follows Tessera's stream itself (no relay, no leader): two followers,
    one snapshot each from the feed, then the events XADDed after it."""
    import json

    from tessera_middleware.redis_stream import RedisRevocationStream

    key = f"test:{uuid.uuid4().hex}:revocations"
    client = _redis()
    snapshot = {"full": True, "cursor": "c0", "stream_seq": 1, "suspended_clients": ["early"]}
    idp.feed_responses = [(200, snapshot), (200, snapshot)]
    client.xadd(key, {"event": "{}"}, id="1-0")  # the event the snapshot already holds
    followers = []
    for _ in range(2):
        state = RevocationState()
        poller = RevocationFeedPoller(
            state, client_id="rs", client_secret="pw", endpoint=FEED, http=idp
        )
        follower = RedisRevocationStream(state, poller, key=key, client=_redis(), block_ms=200)
        follower.start()
        followers.append(follower)
    try:
        for follower in followers:
            assert follower.following.wait(5)
            assert follower.state._suspended == {"early"}  # from the snapshot
        got = [threading.Event(), threading.Event()]
        for follower, event in zip(followers, got, strict=True):
            follower.state.add_listener(lambda doc, event=event: event.set())
        revoked = {"v": 1, "seq": 2, "id": 9, "type": "token", "subject": "late", "until": None}
        client.xadd(key, {"event": json.dumps(revoked)}, id="2-0")
        for follower, event in zip(followers, got, strict=True):
            assert event.wait(5)
            assert "late" in follower.state._jti and not follower.state.is_stale()
    finally:
        for follower in followers:
            follower.stop()
        client.delete(key)


def test_checklist_22_poller_over_real_http_discovers_feed(http_idp) -> None:
    from tessera_middleware.http import UrllibFetcher

    issuer, fake = http_idp
    fake.feed_responses = [feed("c1", True, suspended_clients=["s"]), (410, {})]
    state = RevocationState()
    p = RevocationFeedPoller(
        state, client_id="rs", client_secret="pw", issuer=issuer, http=UrllibFetcher(timeout=2)
    )
    assert p.poll_once() and state._suspended == {"s"} and not state.is_stale()
    assert not p.poll_once()  # 410 then nothing queued: a 404, state kept
    assert state._suspended == {"s"} and p.cursor is None
    assert fake.requests[-1][1]["Authorization"].startswith("Basic ")
