"""Failure throttles on the `limits` library: failed logins (docs/security.md#20), sign-ups
per IP, and wrong device-flow user codes typed at /device (RFC 8628 5.1).

Counters live in memory for one process, or in Redis when TESSERA_REDIS_URL is set so that
every worker shares them. Only failures are counted: a user who types the password (or the
code) right is never slowed down by their own earlier success.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Iterator

from limits import RateLimitItem, parse_many
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

# Failed user-code entries allowed: a person mistyping needs a handful, not hundreds.
USER_CODE_ACCOUNT_LIMIT = "5/minute;20/hour"
USER_CODE_IP_LIMIT = "20/minute;100/hour"


class Throttle:
    """Moving-window counters under `namespace`, one set of limits per kind of key."""

    def __init__(self, storage_url: str, namespace: str, **limits_by_kind: str) -> None:
        self._storage = storage_from_string(storage_url or "memory://")
        self._limiter = MovingWindowRateLimiter(self._storage)
        self._namespace = namespace
        self._limits = {kind: parse_many(text) for kind, text in limits_by_kind.items()}

    def _windows(self, keys: dict[str, str]) -> Iterator[tuple[RateLimitItem, str, str]]:
        for kind, key in keys.items():
            yield from ((limit, kind, key) for limit in self._limits[kind])

    def retry_after(self, **keys: str) -> int:
        """Seconds until another attempt is allowed; 0 when one is allowed now."""
        wait = 0.0
        for limit, kind, key in self._windows(keys):
            if not self._limiter.test(limit, self._namespace, kind, key):
                reset, _remaining = self._limiter.get_window_stats(
                    limit, self._namespace, kind, key
                )
                wait = max(wait, reset - time.time())
        return max(1, math.ceil(wait)) if wait > 0 else 0

    def hit(self, **keys: str) -> None:
        for limit, kind, key in self._windows(keys):
            self._limiter.hit(limit, self._namespace, kind, key)

    def reset(self) -> None:
        self._storage.reset()


def _account_key(login: str) -> str:
    # Hashed so Redis never holds the list of usernames people tried.
    return hashlib.sha256(login.strip().lower().encode()).hexdigest()[:32]


class LoginThrottle:
    def __init__(self, storage_url: str, account_limit: str, ip_limit: str) -> None:
        self._counts = Throttle(storage_url, "login", acct=account_limit, ip=ip_limit)

    def retry_after(self, login: str, ip: str) -> int:
        return self._counts.retry_after(acct=_account_key(login), ip=ip)

    def record_failure(self, login: str, ip: str) -> None:
        self._counts.hit(acct=_account_key(login), ip=ip)

    def reset(self) -> None:
        self._counts.reset()


class RegistrationThrottle:
    """Accounts created per client IP, so one bot cannot mint thousands of accounts."""

    def __init__(self, storage_url: str, ip_limit: str) -> None:
        self._counts = Throttle(storage_url, "register", ip=ip_limit)

    def retry_after(self, ip: str) -> int:
        return self._counts.retry_after(ip=ip)

    def record(self, ip: str) -> None:
        self._counts.hit(ip=ip)


class UserCodeThrottle:
    """Failures per signed-in account and per client IP: a user code carries about 34 bits, so
    unlimited guessing would eventually find someone else's pending device."""

    def __init__(
        self,
        storage_url: str,
        account_limit: str = USER_CODE_ACCOUNT_LIMIT,
        ip_limit: str = USER_CODE_IP_LIMIT,
    ) -> None:
        self._counts = Throttle(storage_url, "user_code", acct=account_limit, ip=ip_limit)

    def retry_after(self, account: str, ip: str) -> int:
        return self._counts.retry_after(acct=account, ip=ip)

    def record_failure(self, account: str, ip: str) -> None:
        self._counts.hit(acct=account, ip=ip)

    def reset(self) -> None:
        self._counts.reset()
