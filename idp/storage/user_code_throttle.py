"""Throttle for wrong device-flow user codes typed at /device (RFC 8628 5.1), on `limits`.

A user code carries about 34 bits, so unlimited guessing would eventually find someone else's
pending device. Failures are counted per signed-in account and per client IP, like failed
logins; a correct code never counts. Counters live in Redis when TESSERA_REDIS_URL is set.
"""

from __future__ import annotations

import math
import time

from limits import parse_many
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

# Failed user-code entries allowed: a person mistyping needs a handful, not hundreds.
ACCOUNT_LIMIT = "5/minute;20/hour"
IP_LIMIT = "20/minute;100/hour"


class UserCodeThrottle:
    def __init__(
        self, storage_url: str, account_limit: str = ACCOUNT_LIMIT, ip_limit: str = IP_LIMIT
    ) -> None:
        self._storage = storage_from_string(storage_url or "memory://")
        self._limiter = MovingWindowRateLimiter(self._storage)
        self._account_limits = parse_many(account_limit)
        self._ip_limits = parse_many(ip_limit)

    def _keys(self, account: str, ip: str):
        yield from ((lim, "acct", account) for lim in self._account_limits)
        yield from ((lim, "ip", ip) for lim in self._ip_limits)

    def retry_after(self, account: str, ip: str) -> int:
        """Seconds until another attempt is allowed; 0 when one is allowed now."""
        wait = 0.0
        for limit, kind, key in self._keys(account, ip):
            if not self._limiter.test(limit, "user_code", kind, key):
                reset, _remaining = self._limiter.get_window_stats(limit, "user_code", kind, key)
                wait = max(wait, reset - time.time())
        return max(1, math.ceil(wait)) if wait > 0 else 0

    def record_failure(self, account: str, ip: str) -> None:
        for limit, kind, key in self._keys(account, ip):
            self._limiter.hit(limit, "user_code", kind, key)

    def reset(self) -> None:
        self._storage.reset()
