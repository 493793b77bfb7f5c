"""Asking a signed-in user to prove it is really them before an irreversible step.

A stolen session cookie should not be enough to delete an account: `confirm_identity` wants
the password again. It is the one place that decides what counts as a fresh proof, so a second
factor (TOTP, passkey) can be accepted here without touching the use cases that call it.
A wrong answer is a password guess: it spends the login's budget (docs/security.md#20).
"""

from __future__ import annotations

from idp.errors import FieldErrors
from idp.services import audit
from idp.services.accounts import LoginThrottled
from idp.services.context import Caller
from idp.services.ports import LoginThrottle, PasswordHasher, Record, UnitOfWork

WRONG_PASSWORD = "Your password is not correct."


def confirm_identity(
    uow: UnitOfWork,
    hasher: PasswordHasher,
    throttle: LoginThrottle,
    caller: Caller,
    user: Record,
    *,
    password: str,
    purpose: str,
) -> None:
    """Returns when `password` is the user's; raises FieldErrors (on `password`) or
    LoginThrottled otherwise. `purpose` names the step in the audit log."""
    wait = throttle.retry_after(user.username, caller.ip)
    if wait:
        audit.record(uow, "reauth.throttled", caller, user_id=user.id, purpose=purpose)
        uow.commit()
        raise LoginThrottled(wait)
    if not password or not hasher.verify(user.password_hash, password):
        throttle.record_failure(user.username, caller.ip)
        audit.record(uow, "reauth.failed", caller, user_id=user.id, purpose=purpose)
        uow.commit()
        raise FieldErrors(WRONG_PASSWORD, "password")
