"""Per-app and per-app-and-user rate limits from the token's tier: GCRA, in memory or on Redis.

A tier of ``rps`` sustained with ``burst`` B is metered with the generic cell rate algorithm
(GCRA, a leaky bucket kept as one timestamp per key). Each key holds a theoretical arrival time
TAT; with ``interval = 1/rps``, a request at ``now`` is allowed when
``max(TAT, now) + interval - now <= B * interval``, and then TAT moves to that sum. Hence:

* a quiet client may send B requests at once (the (B+1)th is refused);
* a client sending steadily at exactly ``rps`` per second is never refused: each request comes
  one interval after the last, so TAT never runs ahead of the clock;
* a faster client gets ``rps`` per second in the long run, after its burst.

A request is decided for both its keys (the user's, then the app's) at once: one refused by
either key costs neither, so a greedy user's refusals do not spend the app's budget.

Redis: one ``EVALSHA`` of the Lua script below per request (the same arithmetic as the memory
store). The clock is this process's, passed in, so tests can inject one; keys expire once their
bucket is full again. The key prefix defaults to the API's audience (set by ``ResourceGuard``),
so two APIs on one Redis keep separate budgets; a shared budget is an explicit ``key_prefix``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from tessera_middleware.errors import RateLimited, ServiceUnavailable
from tessera_middleware.tokens import AccessToken, Tier

log = logging.getLogger(__name__)

# Float arithmetic (TATs are exact doubles here and in Redis, "%.17g") must not turn a request that
# arrives exactly on time into a refusal.
_SLACK = 1e-6

# KEYS: the keys to charge. ARGV: now (ms), then per key its interval and tolerance (ms).
# Returns [allowed, TAT of each key after the decision] with TATs as strings (Lua numbers
# would come back truncated to integers).
GCRA_LUA = """
local now = tonumber(ARGV[1])
local allowed = 1
local tats, after = {}, {}
for i, key in ipairs(KEYS) do
  local interval, tolerance = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
  local tat = tonumber(redis.call('GET', key) or '0')
  if tat < now then tat = now end
  tats[i], after[i] = tat, tat + interval
  if after[i] - now > tolerance + 0.001 then allowed = 0 end
end
local out = {allowed}
for i, key in ipairs(KEYS) do
  local tat = tats[i]
  if allowed == 1 then
    tat = after[i]
    redis.call('SET', key, string.format('%.17g', tat), 'PX', math.ceil(tat - now) + 1)
  end
  out[i + 1] = string.format('%.17g', tat)
end
return out
"""


@dataclass(frozen=True, slots=True)
class Rate:
    """A tier scaled for one key: seconds between requests and the burst allowed at once."""

    interval: float
    burst: int

    @property
    def tolerance(self) -> float:
        return self.interval * self.burst


def tier_rate(tier: Tier, factor: float = 1.0) -> Rate:
    """The GCRA rate for a tier, scaled by ``factor`` (rps and burst alike)."""
    rps = max(tier.rps * factor, 0.001)
    return Rate(1.0 / rps, max(int(tier.burst * factor), 1))


@dataclass(frozen=True, slots=True)
class RateLimitResult:
    allowed: bool
    limit: int  # the burst: what may be sent at once
    remaining: int
    reset: float  # epoch seconds at which the full burst is available again
    now: float
    wait: float = 0.0  # seconds until a refused request would be allowed
    known: bool = True  # False when the store was down: nothing is known about the budget

    @property
    def retry_after(self) -> int:
        return max(1, math.ceil(self.wait))

    def headers(self, exceeded: bool | None = None) -> list[tuple[str, str]]:
        """``RateLimit-*`` headers (IETF draft, reset in delta seconds); Retry-After on 429.

        None when the store was down: claiming a budget nobody counted would mislead clients.
        """
        if not self.known:
            return []
        out = [
            ("RateLimit-Limit", str(self.limit)),
            ("RateLimit-Remaining", str(max(self.remaining, 0))),
            ("RateLimit-Reset", str(max(0, math.ceil(self.reset - self.now - _SLACK)))),
        ]
        if exceeded if exceeded is not None else not self.allowed:
            out.append(("Retry-After", str(self.retry_after)))
        return out


def decide(rate: Rate, tat: float, now: float) -> tuple[bool, float]:
    """One key's GCRA step: (allowed, TAT after the decision if it is applied)."""
    start = max(tat, now)
    after = start + rate.interval
    return after - now <= rate.tolerance + _SLACK, after


def result_for(rate: Rate, allowed: bool, tat: float, now: float) -> RateLimitResult:
    """What a key's TAT (after the decision) means for the client."""
    ahead = max(0.0, tat - now)
    remaining = 0 if not allowed else math.floor((rate.tolerance - ahead) / rate.interval + _SLACK)
    wait = 0.0 if allowed else ahead + rate.interval - rate.tolerance
    return RateLimitResult(allowed, rate.burst, max(remaining, 0), now + ahead, now, wait)


class MemoryGCRA:
    """The GCRA store of one process; the same semantics as the Redis script."""

    def __init__(self) -> None:
        self._tats: dict[str, float] = {}
        self._lock = threading.Lock()
        self._writes = 0

    def charge(self, keys: list[tuple[str, Rate]], now: float) -> tuple[bool, list[float]]:
        with self._lock:
            steps = [decide(rate, self._tats.get(key, now), now) for key, rate in keys]
            allowed = all(ok for ok, _ in steps)
            if not allowed:
                return False, [max(self._tats.get(key, now), now) for key, _ in keys]
            for (key, _rate), (_ok, after) in zip(keys, steps, strict=True):
                self._tats[key] = after
            self._writes += 1
            if self._writes % 4096 == 0:
                # A key whose bucket is full again holds nothing worth keeping.
                self._tats = {k: t for k, t in self._tats.items() if t > now}
            return True, [after for _ok, after in steps]


class RedisGCRA:
    """The GCRA on Redis: every process that shares the prefix shares the budgets."""

    def __init__(self, url: str, **options: Any) -> None:
        import redis  # the [redis] extra; only needed when limits are shared

        options.setdefault("socket_timeout", 1.0)
        options.setdefault("socket_connect_timeout", 1.0)
        self.redis = redis.Redis.from_url(url, **options)
        # EVALSHA; redis-py loads the script and retries once if the server lacks it.
        self._script = self.redis.register_script(GCRA_LUA)

    def charge(self, keys: list[tuple[str, Rate]], now: float) -> tuple[bool, list[float]]:
        args: list[float] = [now * 1000]
        for _key, rate in keys:
            args += [rate.interval * 1000, rate.tolerance * 1000]
        reply = self._script(keys=[key for key, _ in keys], args=args)
        return bool(int(reply[0])), [float(tat) / 1000 for tat in reply[1:]]


class TierRateLimiter:
    """Rate limits keyed by app and by (app, user), sized by the token's tier.

    ``storage``: ``memory://`` (one process) or ``redis://host:port/db`` (shared; extra
    options go to ``redis.Redis.from_url``). ``on_storage_error``: ``"allow"`` (default) or
    ``"deny"`` (503) while Redis is unreachable; either way it is logged, and an allowed
    request then carries no RateLimit headers. ``key_prefix``: None for the API's audience
    (``ResourceGuard`` sets it); any string shares budgets with every limiter using it.
    """

    def __init__(
        self,
        storage: str = "memory://",
        *,
        per_user: bool = True,
        app_factor: float = 1.0,
        user_factor: float = 1.0,
        on_storage_error: Literal["allow", "deny"] = "allow",
        key_prefix: str | None = None,
        clock: Callable[[], float] | None = None,
        **storage_options: Any,
    ) -> None:
        if storage == "memory://":
            self.store: MemoryGCRA | RedisGCRA = MemoryGCRA()
        elif storage.startswith(("redis://", "rediss://", "unix://")):
            self.store = RedisGCRA(storage, **storage_options)
        else:
            raise ValueError("storage must be memory:// or redis://")
        if on_storage_error not in ("allow", "deny"):
            raise ValueError('on_storage_error must be "allow" or "deny"')
        self.per_user = per_user
        self.app_factor, self.user_factor = app_factor, user_factor
        self.on_storage_error = on_storage_error
        self.prefix = key_prefix
        self._explicit_prefix = key_prefix is not None
        # Resolved per call so freezegun's patched time.time applies.
        self._clock = clock or (lambda: time.time())
        self._rates: dict[tuple[Tier, float], Rate] = {}
        self._last_error_log = -math.inf
        # After a store failure, requests apply the policy for this long before trying again,
        # so a black-holed Redis costs one socket timeout per interval, not one per request.
        self.storage_retry = 1.0
        self._down_until = -math.inf

    @property
    def redis(self) -> Any:
        """The Redis client, or None in memory."""
        return getattr(self.store, "redis", None)

    def for_audience(self, audiences: Iterable[str]) -> None:
        """Default the key prefix to the API's audience (unless one was given explicitly)."""
        prefix = "tessera:rl:" + ",".join(sorted(audiences))
        if self._explicit_prefix:
            return
        if self.prefix is not None and self.prefix != prefix:
            raise ValueError("this rate limiter already serves another API; give key_prefix=")
        self.prefix = prefix

    def _rate(self, tier: Tier, factor: float) -> Rate:
        rate = self._rates.get((tier, factor))
        if rate is None:
            rate = self._rates[(tier, factor)] = tier_rate(tier, factor)
        return rate

    def _keys(self, token: AccessToken) -> list[tuple[str, Rate]]:
        if self.prefix is None:
            raise ValueError("give key_prefix= or use this limiter through a ResourceGuard")
        keys = []
        if self.per_user and not token.is_machine:
            user = f"{self.prefix}:user:{token.client_id}:{token.subject}"
            keys.append((user, self._rate(token.tier, self.user_factor)))
        keys.append(
            (f"{self.prefix}:app:{token.client_id}", self._rate(token.tier, self.app_factor))
        )
        return keys

    def hit(self, token: AccessToken) -> RateLimitResult:
        """Count one request; the result says whether it is allowed and what is left."""
        keys = self._keys(token)
        now = self._clock()
        if now < self._down_until:
            # Redis failed moments ago: apply the policy without waiting on it again.
            return self._storage_failed(keys[-1][1], None, now)
        try:
            allowed, tats = self.store.charge(keys, now)
        except Exception as exc:  # redis-py raises its own families (and OSError)
            self._down_until = now + self.storage_retry
            return self._storage_failed(keys[-1][1], exc, now)
        charged = list(zip((rate for _k, rate in keys), tats, strict=True))
        if allowed:
            results = [result_for(rate, True, tat, now) for rate, tat in charged]
            return min(results, key=lambda r: r.remaining)
        # The key(s) that refused it say when to retry; the other key was not charged.
        refusing = [(rate, tat) for rate, tat in charged if not decide(rate, tat, now)[0]]
        results = [result_for(rate, False, tat, now) for rate, tat in refusing or charged]
        return max(results, key=lambda r: r.wait)

    def check(self, token: AccessToken) -> RateLimitResult:
        """Like ``hit`` but raises ``RateLimited`` when over the limit."""
        result = self.hit(token)
        if not result.allowed:
            raise RateLimited("rate limit exceeded for this app", result)
        return result

    async def hit_async(self, token: AccessToken) -> RateLimitResult:
        """``hit`` for event loops: a Redis round trip runs in a thread, never on the loop."""
        if self.redis is None:
            return self.hit(token)
        return await asyncio.to_thread(self.hit, token)

    async def check_async(self, token: AccessToken) -> RateLimitResult:
        result = await self.hit_async(token)
        if not result.allowed:
            raise RateLimited("rate limit exceeded for this app", result)
        return result

    def _storage_failed(self, rate: Rate, exc: Exception | None, now: float) -> RateLimitResult:
        if exc is not None and now - self._last_error_log > 10:
            # Logged at most every 10 s: an outage must not also flood the logs.
            self._last_error_log = now
            log.error(
                "rate-limit storage failed (%s: %s); policy=%s",
                type(exc).__name__,
                exc,
                self.on_storage_error,
            )
        if self.on_storage_error == "deny":
            raise ServiceUnavailable("rate limiting is unavailable", retry_after=5) from exc
        return RateLimitResult(True, rate.burst, 0, now, now, known=False)
