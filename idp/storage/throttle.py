"""Failed-login throttling (SECURITY-CHECKLIST 20) on the `limits` library.

Counters live in memory for one process, or in Redis when TESSERA_REDIS_URL is set so that
every worker shares them. Only failures are counted: a user who types the password right
is never slowed down by their own earlier success.
"""

from __future__ import annotations

import hashlib
import math
import time

from limits import parse_many
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter


class LoginThrottle:
    def __init__(self, storage_url: str, account_limit: str, ip_limit: str) -> None:
        self._storage = storage_from_string(storage_url or "memory://")
        self._limiter = MovingWindowRateLimiter(self._storage)
        self._account_limits = parse_many(account_limit)
        self._ip_limits = parse_many(ip_limit)

    @staticmethod
    def _account_key(login: str) -> str:
        # Hashed so Redis never holds the list of usernames people tried.
        return hashlib.sha256(login.strip().lower().encode()).hexdigest()[:32]

    def _keys(self, login: str, ip: str):
        yield from ((lim, "acct", self._account_key(login)) for lim in self._account_limits)
        yield from ((lim, "ip", ip) for lim in self._ip_limits)

    def retry_after(self, login: str, ip: str) -> int:
        """Seconds until another attempt is allowed; 0 when one is allowed now."""
        wait = 0.0
        for limit, kind, key in self._keys(login, ip):
            if not self._limiter.test(limit, "login", kind, key):
                reset, _remaining = self._limiter.get_window_stats(limit, "login", kind, key)
                wait = max(wait, reset - time.time())
        return max(1, math.ceil(wait)) if wait > 0 else 0

    def record_failure(self, login: str, ip: str) -> None:
        for limit, kind, key in self._keys(login, ip):
            self._limiter.hit(limit, "login", kind, key)

    def reset(self) -> None:
        self._storage.reset()


class RegistrationThrottle:
    """Accounts created per client IP, so one bot cannot mint thousands of accounts."""

    def __init__(self, storage_url: str, ip_limit: str) -> None:
        self._limiter = MovingWindowRateLimiter(storage_from_string(storage_url or "memory://"))
        self._limits = parse_many(ip_limit)

    def retry_after(self, ip: str) -> int:
        wait = 0.0
        for limit in self._limits:
            if not self._limiter.test(limit, "register", ip):
                reset, _remaining = self._limiter.get_window_stats(limit, "register", ip)
                wait = max(wait, reset - time.time())
        return max(1, math.ceil(wait)) if wait > 0 else 0

    def record(self, ip: str) -> None:
        for limit in self._limits:
            self._limiter.hit(limit, "register", ip)
