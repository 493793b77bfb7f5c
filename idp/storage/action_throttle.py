"""Throttles on actions that send mail: a reset link asked for, a verification mail resent, an
e-mail change. Unlike the login throttle every attempt counts, successful or not: each one
sends a mail, and an inbox must not be flooded. Built on idp.storage.throttle.Throttle (memory,
or Redis shared by every process with TESSERA_REDIS_URL)."""

from __future__ import annotations

from idp.storage.redis_state import SharedRedis
from idp.storage.throttle import Throttle

RESEND_LIMITS = {"acct": "3/hour;10/day", "ip": "20/hour;100/day"}
EMAIL_CHANGE_LIMITS = {"acct": "5/hour;10/day", "ip": "20/hour;100/day"}


class ActionThrottle:
    def __init__(self, shared: SharedRedis | None, reset_account: str, reset_ip: str) -> None:
        limits = {
            "password_reset": {"acct": reset_account, "ip": reset_ip},
            "verify_resend": RESEND_LIMITS,
            "email_change": EMAIL_CHANGE_LIMITS,
        }
        self._throttles = {
            action: Throttle(shared, f"action_{action}", **kinds)
            for action, kinds in limits.items()
        }

    def retry_after(self, action: str, **keys: str) -> int:
        return self._throttles[action].retry_after(**keys)

    def hit(self, action: str, **keys: str) -> None:
        self._throttles[action].hit(**keys)

    def reset(self) -> None:
        for throttle in self._throttles.values():
            throttle.reset()
