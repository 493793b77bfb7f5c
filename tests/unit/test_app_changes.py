"""The pieces of the shared state that need no Redis server: app-change messages, the app
cache under a concurrent invalidation, the circuit breaker and its once-a-minute log."""

from __future__ import annotations

import logging

from idp.storage import redis_state
from idp.storage.app_invalidation import MAX_NAMED, decode, encode
from idp.storage.client_cache import ClientPolicyCache
from idp.storage.redis_state import SharedRedis, deployment_prefix


def test_app_change_messages_round_trip():
    assert decode(encode({"b", "a"})) == {"a", "b"}
    assert decode(encode(None)) is None
    assert decode(encode({f"app-{i}" for i in range(MAX_NAMED + 1)})) is None  # "all"


def test_unreadable_app_change_message_drops_everything():
    for raw in (b"not json", b"[1, 2]", b'{"apps": [1]}', b'{"apps": "x"}'):
        assert decode(raw) is None


def test_cache_does_not_keep_what_it_read_during_an_invalidation():
    """A load that raced an invalidation may hold the old app: served once, never cached."""
    loads: list[str] = []
    cache = ClientPolicyCache(ttl=300, loader=lambda cid: loads.append(cid) or None)

    def load_while_invalidated(client_id: str) -> None:
        loads.append(client_id)
        cache.invalidate({client_id})  # the broadcast lands while the database is read

    cache._loader = load_while_invalidated
    cache.get("app-1")
    cache._loader = lambda cid: loads.append(cid) or None
    cache.get("app-1")
    cache.get("app-1")
    assert loads == ["app-1", "app-1"]  # reloaded once, then cached


def test_prefix_and_channel_are_per_deployment_and_database():
    one = SharedRedis("redis://127.0.0.1:6379/4", "https://id.example.com")
    assert (
        one.prefix
        == deployment_prefix("https://id.example.com/")
        != deployment_prefix("https://other.example.com")
    )
    assert one.channel == f"{one.prefix}:db4:apps"
    assert SharedRedis("redis://127.0.0.1:6379/5", "https://id.example.com").channel != one.channel


def test_breaker_skips_redis_for_the_back_off_and_logs_once_a_minute(caplog):
    caplog.set_level(logging.INFO)
    now = [1000.0]
    shared = SharedRedis("redis://127.0.0.1:1/0", "https://id.example.com", clock=lambda: now[0])
    assert shared.available()
    shared.failed(ConnectionError("refused"))
    assert not shared.available()
    now[0] += redis_state.BACKOFF
    assert shared.available()
    for _ in range(10):  # retried and failed every back-off for most of a minute: one line
        shared.failed(ConnectionError("refused"))
        now[0] += redis_state.BACKOFF
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "127.0.0.1:1" in warnings[0].message
    now[0] += redis_state.LOG_INTERVAL
    shared.failed(ConnectionError("refused"))
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 2
    shared.succeeded()
    shared.succeeded()
    assert [r.message for r in caplog.records].count("Redis at 127.0.0.1:1 is reachable again") == 1
