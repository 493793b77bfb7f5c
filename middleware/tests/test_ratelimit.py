"""Tier rate limits (GCRA): exact rates in memory and on Redis (docs/security.md#28)."""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from collections.abc import Callable

import pytest
from tessera_middleware import RateLimited, ServiceUnavailable, Tier, TokenVerifier
from tessera_middleware.guard import ResourceGuard
from tessera_middleware.ratelimit import TierRateLimiter, tier_rate
from tessera_middleware.tokens import AccessToken

REDIS_URL = os.environ.get("TESSERA_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
T0 = 1_900_000_000.0


def _redis_ok() -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(REDIS_URL, socket_timeout=0.5).ping())
    except Exception:
        return False


needs_redis = pytest.mark.skipif(not _redis_ok(), reason=f"Redis at {REDIS_URL} unreachable")
STORES = ["memory://", pytest.param(REDIS_URL, marks=needs_redis, id="redis")]
TIER = Tier("t", 3, 10)


class Clock:
    """An injectable clock: the tests move time, nothing sleeps."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def token(client: str = "app-1", sub: str = "user-1", tier: Tier = TIER) -> AccessToken:
    machine = sub == client
    return AccessToken(sub, client, frozenset(), None if machine else "g", tier, 0, "j", 0, {})


def limiter(storage: str = "memory://", clock: Callable[[], float] | None = None, **kw):
    return TierRateLimiter(storage, key_prefix=uuid.uuid4().hex, clock=clock or Clock(), **kw)


def test_tier_rate_is_the_tier() -> None:
    rate = tier_rate(Tier("default", 3, 10))
    assert (rate.interval, rate.burst) == (pytest.approx(1 / 3), 10)
    assert tier_rate(Tier("half", 3, 10), 0.5).burst == 5


def steady(limit: TierRateLimiter, clock: Clock, tier: Tier, rps: float, seconds: float):
    """Send at exactly ``rps`` per second for ``seconds``: (allowed, refused)."""
    sent = round(rps * seconds)
    start, outcomes = clock.now, []
    for k in range(sent):
        clock.now = start + k / rps
        outcomes.append(limit.hit(token(tier=tier)).allowed)
    return sum(outcomes), sent - sum(outcomes)


TIERS = [Tier("default", 3, 10), Tier("fast", 50, 5), Tier("slow", 0.5, 2), Tier("one", 10, 1)]


@pytest.mark.parametrize("storage", STORES)
@pytest.mark.parametrize("tier", TIERS, ids=lambda t: t.name)
def test_checklist_28_steady_client_at_exactly_the_tier_rate_is_never_refused(
    storage: str, tier: Tier
) -> None:
    clock = Clock()
    limit = limiter(storage, clock, per_user=False)
    seconds = max(40.0, 200 / tier.rps)
    assert steady(limit, clock, tier, tier.rps, seconds) == (round(tier.rps * seconds), 0)


@pytest.mark.parametrize("storage", STORES)
@pytest.mark.parametrize("tier", TIERS[:3], ids=lambda t: t.name)
def test_checklist_28_at_1_1x_the_rate_the_tier_rate_plus_the_burst_passes(
    storage: str, tier: Tier
) -> None:
    clock = Clock()
    limit = limiter(storage, clock, per_user=False)
    seconds = max(40.0, 400 / tier.rps)
    allowed, refused = steady(limit, clock, tier, tier.rps * 1.1, seconds)
    # GCRA admits the burst plus rps for every second of the run, give or take one request.
    assert abs(allowed - (tier.rps * seconds + tier.burst)) <= 1.5
    assert refused > 0


def test_burst_1_means_strict_spacing() -> None:
    """With no burst there is no slack: at 1.1x every other request lands too early."""
    clock, tier = Clock(), TIERS[3]
    limit = limiter(clock=clock, per_user=False)
    assert steady(limit, clock, tier, tier.rps * 1.1, 40.0) == (220, 220)


@pytest.mark.parametrize("storage", STORES)
def test_checklist_28_burst_at_once_then_429_then_one_interval_refills_one(storage: str) -> None:
    clock = Clock()
    limit = limiter(storage, clock)
    results = [limit.hit(token()) for _ in range(10)]
    assert all(r.allowed for r in results)
    assert [r.remaining for r in results[:3]] == [9, 8, 7]
    assert results[0].headers() == [
        ("RateLimit-Limit", "10"),
        ("RateLimit-Remaining", "9"),
        ("RateLimit-Reset", "1"),  # one interval (1/3 s) until the burst is whole again
    ]
    assert results[-1].headers()[2] == ("RateLimit-Reset", "4")  # 10/3 s
    with pytest.raises(RateLimited) as info:
        limit.check(token())
    assert info.value.result.remaining == 0
    assert info.value.result.wait == pytest.approx(1 / 3, abs=1e-5)
    assert ("Retry-After", "1") in info.value.result.headers()
    clock.now += 1 / 3
    assert limit.hit(token()).allowed
    assert not limit.hit(token()).allowed


@pytest.mark.parametrize("storage", STORES)
def test_checklist_28_apps_and_users_are_separate_budgets(storage: str) -> None:
    limit = limiter(storage, user_factor=0.5)
    assert sum(limit.hit(token(sub="alice")).allowed for _ in range(10)) == 5
    assert sum(limit.hit(token(sub="bob")).allowed for _ in range(10)) == 5
    assert not limit.hit(token(sub="carol")).allowed  # the app's burst of 10 is spent
    assert limit.hit(token(client="app-2")).allowed


@pytest.mark.parametrize("storage", STORES)
def test_a_request_the_user_key_refuses_costs_the_app_nothing(storage: str) -> None:
    limit = limiter(storage, user_factor=0.2)  # a user may send 2 at once, the app 10
    assert sum(limit.hit(token(sub="greedy")).allowed for _ in range(50)) == 2
    assert sum(limit.hit(token(sub="other")).allowed for _ in range(2)) == 2
    assert sum(limit.hit(token(sub=f"u{i}")).allowed for i in range(10)) == 6


def test_machine_tokens_only_use_the_app_key() -> None:
    limit = limiter()
    assert len(limit._keys(token(sub="app-1"))) == 1
    assert len(limit._keys(token(sub="u"))) == 2


def _guard(audience: str, limit: TierRateLimiter) -> ResourceGuard:
    return ResourceGuard(TokenVerifier("https://id.test", audience), rate_limiter=limit)


@pytest.mark.parametrize("storage", STORES)
def test_checklist_28_two_apis_on_one_store_keep_separate_budgets(storage: str) -> None:
    clock, api = Clock(), f"https://orders-{uuid.uuid4().hex}.test"
    one = TierRateLimiter(storage, clock=clock)
    two = TierRateLimiter(storage, clock=clock)
    _guard(api, one), _guard(api + "/other", two)
    assert one.prefix == f"tessera:rl:{api}" and one.prefix != two.prefix
    assert sum(one.hit(token()).allowed for _ in range(12)) == 10
    assert sum(two.hit(token()).allowed for _ in range(12)) == 10


@needs_redis
def test_checklist_28_a_shared_budget_is_an_explicit_prefix() -> None:
    clock, shared = Clock(), uuid.uuid4().hex
    one = TierRateLimiter(REDIS_URL, key_prefix=shared, clock=clock)
    two = TierRateLimiter(REDIS_URL, key_prefix=shared, clock=clock)
    _guard("https://a.test", one), _guard("https://b.test", two)
    results = [(one if i % 2 else two).hit(token()) for i in range(11)]
    assert [r.allowed for r in results] == [True] * 10 + [False]
    assert [r.remaining for r in results[:3]] == [9, 8, 7]
    assert results[-1].retry_after == 1


@needs_redis
def test_checklist_28_redis_one_round_trip_per_request() -> None:
    limit = limiter(REDIS_URL)
    limit.hit(token())  # loads the script on a fresh server
    pool = limit.redis.connection_pool
    connection = pool.get_connection()
    pool.release(connection)
    sent, real = [], connection.send_packed_command
    connection.send_packed_command = lambda cmd, *a, **k: (sent.append(cmd), real(cmd, *a, **k))
    try:
        for _ in range(3):
            assert limit.hit(token()).allowed
    finally:
        connection.send_packed_command = real
    assert len(sent) == 3


def test_checklist_28_store_down_allow_claims_no_budget(caplog: pytest.LogCaptureFixture) -> None:
    down = limiter("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    result = down.check(token())
    assert result.allowed and not result.known
    assert result.headers() == []  # no RateLimit-* figures the store never counted
    assert "rate-limit storage failed" in caplog.text


def test_checklist_28_store_down_deny_is_a_503() -> None:
    down = limiter("redis://127.0.0.1:1/0", on_storage_error="deny", socket_connect_timeout=0.2)
    with pytest.raises(ServiceUnavailable) as info:
        down.hit(token())
    assert info.value.retry_after == 5


def test_a_limiter_without_prefix_or_guard_is_refused() -> None:
    with pytest.raises(ValueError, match="key_prefix"):
        TierRateLimiter().hit(token())
    with pytest.raises(ValueError, match="storage"):
        TierRateLimiter("memcached://x")


def _failing_store(limit: TierRateLimiter) -> list[str]:
    """Replace the store's charge with one that records its thread, then fails like Redis."""
    calls: list[str] = []

    def charge(keys: object, now: float) -> None:
        calls.append(threading.current_thread().name)
        raise ConnectionError("redis is down")

    limit.store.charge = charge  # type: ignore[method-assign]
    return calls


def test_a_down_store_is_tried_again_only_after_storage_retry() -> None:
    clock = Clock()
    limit = limiter("redis://127.0.0.1:1/0", clock)
    calls = _failing_store(limit)
    results = [limit.hit(token()) for _ in range(5)]
    assert all(r.allowed and not r.known for r in results) and len(calls) == 1
    clock.now += limit.storage_retry
    limit.hit(token())
    assert len(calls) == 2


def test_async_hits_on_redis_run_off_the_event_loop() -> None:
    limit = limiter("redis://127.0.0.1:1/0")
    calls = _failing_store(limit)
    result = asyncio.run(limit.hit_async(token()))
    assert not result.known and calls and calls[0] != threading.current_thread().name
