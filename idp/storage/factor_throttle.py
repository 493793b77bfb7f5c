"""Wrong second-factor codes and failed passkey assertions, counted per account and per IP.

A 6-digit code has a million values: without a limit, a password thief would try them all
within a code's lifetime. Counted apart from the password failures so a user who typed the
password right is not locked out of the password step by their own mistyped codes.
"""

from __future__ import annotations

from idp.storage.redis_state import SharedRedis
from idp.storage.throttle import Throttle


class SecondFactorThrottle:
    def __init__(self, shared: SharedRedis | None, account_limit: str, ip_limit: str) -> None:
        self._counts = Throttle(shared, "second_factor", acct=account_limit, ip=ip_limit)

    def retry_after(self, account: str, ip: str) -> int:
        return self._counts.retry_after(acct=account, ip=ip)

    def record_failure(self, account: str, ip: str) -> None:
        self._counts.hit(acct=account, ip=ip)

    def reset(self) -> None:
        self._counts.reset()
