"""Tier rate limits: in memory and on Redis (docs/security.md#28)."""

from __future__ import annotations

import time
import uuid

import pytest
from freezegun import freeze_time
from tessera_middleware import RateLimited, ServiceUnavailable, Tier
from tessera_middleware.ratelimit import TierRateLimiter, tier_item
from tessera_middleware.tokens import AccessToken

REDIS_URL = "redis://127.0.0.1:6379/15"


def _redis_ok() -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(REDIS_URL, socket_timeout=0.5).ping())
    except Exception:
        return False


needs_redis = pytest.mark.skipif(not _redis_ok(), reason="Redis at 127.0.0.1:6379 unreachable")


TIER = Tier("t", 3, 10)


def token(client: str = "app-1", sub: str = "user-1", tier: Tier = TIER) -> AccessToken:
    machine = sub == client
    return AccessToken(sub, client, frozenset(), None if machine else "g", tier, 0, "j", 0, {})


def test_tier_mapping_never_exceeds_rps_or_burst() -> None:
    item = tier_item(Tier("default", 3, 10))
    assert (item.amount, item.get_expiry()) == (10, 4)
    item = tier_item(Tier("fast", 100, 10))
    assert (item.amount, item.get_expiry()) == (100, 1)
    item = tier_item(Tier("slow", 0.5, 2))
    assert (item.amount, item.get_expiry()) == (2, 4)


def test_checklist_28_burst_then_429_then_refill_memory() -> None:
    limiter = TierRateLimiter("memory://", key_prefix=uuid.uuid4().hex)
    with freeze_time("2030-01-01 12:00:00") as frozen:
        results = [limiter.hit(token()) for _ in range(10)]
        assert all(r.allowed for r in results)
        assert [r.remaining for r in results[:3]] == [9, 8, 7]
        assert results[0].headers() == [
            ("RateLimit-Limit", "10"),
            ("RateLimit-Remaining", "9"),
            ("RateLimit-Reset", "4"),
        ]
        with pytest.raises(RateLimited) as info:
            limiter.check(token())
        assert info.value.result.remaining == 0
        assert ("Retry-After", "4") in info.value.result.headers()
        frozen.tick(4.01)
        assert limiter.hit(token()).allowed


def test_checklist_28_apps_and_users_are_separate_budgets() -> None:
    limiter = TierRateLimiter("memory://", key_prefix=uuid.uuid4().hex, user_factor=0.5)
    with freeze_time("2030-01-01 12:00:00"):
        assert sum(limiter.hit(token(sub="alice")).allowed for _ in range(10)) == 5
        assert sum(limiter.hit(token(sub="bob")).allowed for _ in range(10)) == 5
        assert not limiter.hit(token(sub="carol")).allowed  # app budget of 10 is spent
        assert limiter.hit(token(client="app-2")).allowed


def test_machine_tokens_only_use_the_app_key() -> None:
    limiter = TierRateLimiter("memory://", key_prefix=uuid.uuid4().hex)
    assert len(limiter._keys(token(sub="app-1"))) == 1
    assert len(limiter._keys(token(sub="u"))) == 2


@needs_redis
def test_checklist_28_redis_shared_between_limiters() -> None:
    prefix = uuid.uuid4().hex
    one = TierRateLimiter(REDIS_URL, key_prefix=prefix)
    two = TierRateLimiter(REDIS_URL, key_prefix=prefix)
    results = [(one if i % 2 else two).hit(token()) for i in range(11)]
    assert [r.allowed for r in results] == [True] * 10 + [False]
    assert [r.remaining for r in results[:3]] == [9, 8, 7]
    assert results[-1].retry_after >= 1


@needs_redis
def test_checklist_28_redis_one_round_trip_per_request() -> None:
    limiter = TierRateLimiter(REDIS_URL, key_prefix=uuid.uuid4().hex)
    limiter.hit(token())  # loads the scripts on a fresh server
    conn = limiter.storage.get_connection()
    sent = []
    original = conn.connection_pool.get_connection

    def counting(*args, **kwargs):
        connection = original(*args, **kwargs)
        if not getattr(connection, "_counted", False):  # the pool hands back the same one
            real = connection.send_packed_command
            connection.send_packed_command = lambda cmd, *a, **k: (
                sent.append(cmd),
                real(cmd, *a, **k),
            )
            connection._counted = True
        return connection

    conn.connection_pool.get_connection = counting
    try:
        for _ in range(3):
            assert limiter.hit(token()).allowed
    finally:
        conn.connection_pool.get_connection = original
    assert len(sent) == 3


def test_checklist_28_storage_down_fail_open_and_closed(caplog: pytest.LogCaptureFixture) -> None:
    down = "redis://127.0.0.1:1/0"
    open_limiter = TierRateLimiter(down, socket_connect_timeout=0.2)
    assert open_limiter.hit(token()).allowed
    assert "rate-limit storage failed" in caplog.text
    closed = TierRateLimiter(down, on_storage_error="deny", socket_connect_timeout=0.2)
    with pytest.raises(ServiceUnavailable):
        closed.hit(token())


def test_result_headers_within_limit_have_no_retry_after() -> None:
    limiter = TierRateLimiter("memory://", key_prefix=uuid.uuid4().hex)
    result = limiter.hit(token(tier=Tier("x", 1000, 1000)))
    names = [name for name, _ in result.headers()]
    assert names == ["RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"]
    assert result.reset >= time.time()
