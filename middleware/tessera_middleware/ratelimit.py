"""Per-app and per-app-and-user rate limits from the token's tier, on the ``limits`` library.

Mapping of a tier (``rps`` sustained, ``burst`` at once) onto a limits item, used with the
*moving window* strategy (no more than N hits in any sliding W-second span):

* ``burst >= rps``: N = burst, W = ceil(burst / rps) seconds. A quiet client may send
  ``burst`` requests at once; the long-run rate is burst / W <= rps. Neither number is
  ever exceeded (rps=3, burst=10 gives "10 per 4 seconds", 2.5 rps sustained).
* ``burst < rps``: N = ceil(rps), W = 1 second.

Redis: both keys' acquire and stats scripts (limits' own Lua scripts and key layout) go in
one pipeline, so a request costs one round trip.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from limits import RateLimitItem, RateLimitItemPerSecond
from limits.storage import MemoryStorage, RedisStorage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from tessera_middleware.errors import RateLimited, ServiceUnavailable
from tessera_middleware.tokens import AccessToken, Tier

log = logging.getLogger(__name__)


def tier_item(tier: Tier, factor: float = 1.0) -> RateLimitItem:
    """The limits item for a tier, optionally scaled (see module docstring)."""
    rps = max(tier.rps * factor, 0.001)
    burst = max(int(tier.burst * factor), 1)
    if burst >= rps:
        return RateLimitItemPerSecond(burst, math.ceil(burst / rps))
    return RateLimitItemPerSecond(math.ceil(rps), 1)


@dataclass(frozen=True, slots=True)
class RateLimitResult:
    allowed: bool
    limit: int
    remaining: int
    reset: float  # epoch seconds at which a slot frees up
    now: float

    @property
    def retry_after(self) -> int:
        return max(1, math.ceil(self.reset - self.now))

    def headers(self, exceeded: bool | None = None) -> list[tuple[str, str]]:
        """``RateLimit-*`` headers (IETF draft, reset in delta seconds); Retry-After on 429."""
        out = [
            ("RateLimit-Limit", str(self.limit)),
            ("RateLimit-Remaining", str(max(self.remaining, 0))),
            ("RateLimit-Reset", str(max(0, math.ceil(self.reset - self.now)))),
        ]
        if exceeded if exceeded is not None else not self.allowed:
            out.append(("Retry-After", str(self.retry_after)))
        return out


class TierRateLimiter:
    """Rate limits keyed by app and by (app, user), sized by the token's tier.

    ``storage``: ``memory://`` (one process) or ``redis://host:port/db`` (shared).
    ``on_storage_error``: ``"allow"`` (fail open, default) or ``"deny"`` (503) when the
    storage is unreachable; either way it is logged.
    """

    def __init__(
        self,
        storage: str = "memory://",
        *,
        per_user: bool = True,
        app_factor: float = 1.0,
        user_factor: float = 1.0,
        on_storage_error: Literal["allow", "deny"] = "allow",
        key_prefix: str = "tessera",
        clock: Callable[[], float] | None = None,
        **storage_options: Any,
    ) -> None:
        self.storage = storage_from_string(storage, **storage_options)
        self._strategy = MovingWindowRateLimiter(self.storage)
        self._redis = isinstance(self.storage, RedisStorage)
        if not self._redis and not isinstance(self.storage, MemoryStorage):
            raise ValueError("storage must be memory:// or redis://")
        self.per_user = per_user
        self.app_factor, self.user_factor = app_factor, user_factor
        self.on_storage_error = on_storage_error
        self.prefix = key_prefix
        # Resolved per call so freezegun's patched time.time (which limits also sees) applies.
        self._clock = clock or (lambda: time.time())
        self._items: dict[tuple[Tier, float], RateLimitItem] = {}
        self._last_error_log = 0.0

    def _item(self, tier: Tier, factor: float) -> RateLimitItem:
        item = self._items.get((tier, factor))
        if item is None:
            item = self._items[(tier, factor)] = tier_item(tier, factor)
        return item

    def _keys(self, token: AccessToken) -> list[tuple[RateLimitItem, tuple[str, ...]]]:
        # The user's key goes first: in memory a request it refuses then costs the app
        # nothing, so one greedy user cannot spend the whole app's budget on refusals.
        keys = []
        if self.per_user and not token.is_machine:
            user = (self.prefix, "user", token.client_id, token.subject)
            keys.append((self._item(token.tier, self.user_factor), user))
        keys.append(
            (self._item(token.tier, self.app_factor), (self.prefix, "app", token.client_id))
        )
        return keys

    def hit(self, token: AccessToken) -> RateLimitResult:
        """Count one request; the result says whether it is allowed and what is left."""
        keys = self._keys(token)
        try:
            if self._redis:
                return self._hit_redis(keys)
            return self._hit_memory(keys)
        except Exception as exc:  # the storage backends raise their own families
            return self._storage_failed(keys[-1][0], exc)

    def check(self, token: AccessToken) -> RateLimitResult:
        """Like ``hit`` but raises ``RateLimited`` when over the limit."""
        result = self.hit(token)
        if not result.allowed:
            raise RateLimited("rate limit exceeded for this app", result)
        return result

    def _hit_memory(self, keys: list[tuple[RateLimitItem, tuple[str, ...]]]) -> RateLimitResult:
        now = self._clock()
        results = []
        for item, ids in keys:
            allowed = self._strategy.hit(item, *ids)
            stats = self._strategy.get_window_stats(item, *ids)
            results.append(
                RateLimitResult(allowed, item.amount, stats.remaining, stats.reset_time, now)
            )
            if not allowed:
                break
        return _tightest(results)

    def _hit_redis(self, keys: list[tuple[RateLimitItem, tuple[str, ...]]]) -> RateLimitResult:
        from tessera_middleware.redis_limits import pipelined_moving_window

        now = self._clock()
        rows = pipelined_moving_window(self.storage, [(i, i.key_for(*ids)) for i, ids in keys], now)
        results = [
            RateLimitResult(
                allowed, item.amount, item.amount - count, start + item.get_expiry(), now
            )
            for (item, _ids), (allowed, start, count) in zip(keys, rows, strict=True)
        ]
        return _tightest(results)

    def _storage_failed(self, item: RateLimitItem, exc: Exception) -> RateLimitResult:
        now = self._clock()
        if now - self._last_error_log > 10:
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
        return RateLimitResult(True, item.amount, item.amount, now + item.get_expiry(), now)


def _tightest(results: list[RateLimitResult]) -> RateLimitResult:
    denied = [r for r in results if not r.allowed]
    if denied:
        return max(denied, key=lambda r: r.reset)
    return min(results, key=lambda r: r.remaining)
