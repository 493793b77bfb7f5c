"""Failure throttles on the `limits` library: failed logins (docs/security.md#20), sign-ups
per IP, and wrong device-flow user codes typed at /device (RFC 8628 5.1).

With TESSERA_REDIS_URL the counters live in Redis, one count for every worker and instance
(keys under the deployment's prefix, idp/storage/redis_state.py); without it, in each
process's memory. Only failures are counted: a user who types the password (or the code)
right is never slowed down by their own earlier success.

`limits` has no fallback of its own (Flask-Limiter's in_memory_fallback is Flask-Limiter's),
so the fallback is here: every hit is also counted in this process's memory, and an attempt
waits for whichever count is further over its limit. While Redis is unreachable only the
memory counts decide: throttling gets looser (per process) but never stops, and a request
never fails because Redis did.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

from limits import RateLimitItem, parse_many
from limits.errors import StorageError
from limits.storage import MemoryStorage, RedisStorage
from limits.strategies import MovingWindowRateLimiter
from redis import RedisError

from idp.storage.redis_state import SharedRedis

# Failed user-code entries allowed: a person mistyping needs a handful, not hundreds.
USER_CODE_ACCOUNT_LIMIT = "5/minute;20/hour"
USER_CODE_IP_LIMIT = "20/minute;100/hour"

T = TypeVar("T")


class Throttle:
    """Moving-window counters under `namespace`, one set of limits per kind of key."""

    def __init__(self, shared: SharedRedis | None, namespace: str, **limits_by_kind: str) -> None:
        self._memory = MovingWindowRateLimiter(MemoryStorage())
        self._shared = shared
        self._redis: MovingWindowRateLimiter | None = None
        if shared is not None:
            storage = RedisStorage(
                shared.url,
                connection_pool=shared.client.connection_pool,
                key_prefix=f"{shared.prefix}:limits",
            )
            self._redis = MovingWindowRateLimiter(storage)
        self._namespace = namespace
        self._limits = {kind: parse_many(text) for kind, text in limits_by_kind.items()}

    def _windows(self, keys: dict[str, str]) -> Iterator[tuple[RateLimitItem, str, str]]:
        for kind, key in keys.items():
            yield from ((limit, kind, key) for limit in self._limits[kind])

    def _on_redis(self, op: Callable[[MovingWindowRateLimiter], T]) -> T | None:
        """`op` on the shared counters; None when Redis is skipped or fails (then logged)."""
        if self._redis is None or self._shared is None or not self._shared.available():
            return None
        try:
            result = op(self._redis)
        except (RedisError, StorageError) as exc:
            self._shared.failed(exc)
            return None
        self._shared.succeeded()
        return result

    def retry_after(self, **keys: str) -> int:
        """Seconds until another attempt is allowed; 0 when one is allowed now."""

        def wait_on(limiter: MovingWindowRateLimiter) -> float:
            wait = 0.0
            for limit, kind, key in self._windows(keys):
                if not limiter.test(limit, self._namespace, kind, key):
                    reset, _remaining = limiter.get_window_stats(limit, self._namespace, kind, key)
                    wait = max(wait, reset - time.time())
            return wait

        # Never less than this process's own count: a Redis restarted empty forgets the rest.
        wait = max(wait_on(self._memory), self._on_redis(wait_on) or 0.0)
        return max(1, math.ceil(wait)) if wait > 0 else 0

    def hit(self, **keys: str) -> None:
        def count_in(limiter: MovingWindowRateLimiter) -> None:
            for limit, kind, key in self._windows(keys):
                limiter.hit(limit, self._namespace, kind, key)

        # Memory counts too, so an outage starts from this process's recent failures, not zero.
        count_in(self._memory)
        self._on_redis(count_in)

    def reset(self) -> None:
        """Forget every count (this deployment's keys only: Redis may be shared)."""
        self._memory.storage.reset()
        self._on_redis(lambda limiter: limiter.storage.reset())


def _account_key(login: str) -> str:
    # Hashed so Redis never holds the list of usernames people tried.
    return hashlib.sha256(login.strip().lower().encode()).hexdigest()[:32]


class LoginThrottle:
    """Failed guesses per account and per IP. `namespace` keeps kinds of guess apart: wrong
    second-factor codes ("second_factor") never spend the password step's budget, so a user
    who typed the password right is not locked out of it by their own mistyped codes."""

    def __init__(
        self,
        shared: SharedRedis | None,
        account_limit: str,
        ip_limit: str,
        namespace: str = "login",
    ) -> None:
        self._counts = Throttle(shared, namespace, acct=account_limit, ip=ip_limit)

    def retry_after(self, login: str, ip: str) -> int:
        return self._counts.retry_after(acct=_account_key(login), ip=ip)

    def record_failure(self, login: str, ip: str) -> None:
        self._counts.hit(acct=_account_key(login), ip=ip)

    def reset(self) -> None:
        self._counts.reset()


class RegistrationThrottle:
    """Accounts created per client IP, so one bot cannot mint thousands of accounts."""

    def __init__(self, shared: SharedRedis | None, ip_limit: str) -> None:
        self._counts = Throttle(shared, "register", ip=ip_limit)

    def retry_after(self, ip: str) -> int:
        return self._counts.retry_after(ip=ip)

    def record(self, ip: str) -> None:
        self._counts.hit(ip=ip)


class UserCodeThrottle:
    """Failures per signed-in account and per client IP: a user code carries about 34 bits, so
    unlimited guessing would eventually find someone else's pending device."""

    def __init__(
        self,
        shared: SharedRedis | None,
        account_limit: str = USER_CODE_ACCOUNT_LIMIT,
        ip_limit: str = USER_CODE_IP_LIMIT,
    ) -> None:
        self._counts = Throttle(shared, "user_code", acct=account_limit, ip=ip_limit)

    def retry_after(self, account: str, ip: str) -> int:
        return self._counts.retry_after(acct=account, ip=ip)

    def record_failure(self, account: str, ip: str) -> None:
        self._counts.hit(acct=account, ip=ip)

    def reset(self) -> None:
        self._counts.reset()
