"""E-mail change (issue 13): confirmed from the new address, announced to the old one.

The request needs the current password (a stolen session alone cannot move the account's
mail, and so its password resets, elsewhere); a wrong one counts as a failed login
(docs/security.md#20). Nothing changes until the link mailed to the new address is opened; the
old address is told at the request and again when the change is done.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from email_validator import EmailNotValidError, validate_email

from idp.domain.clock import utcnow
from idp.errors import FieldErrors
from idp.services import audit
from idp.services.accounts import LoginThrottled
from idp.services.context import Caller
from idp.services.mail import (
    EMAIL_CHANGE,
    VERIFY_EMAIL,
    ActionThrottle,
    ActionThrottled,
    LinkInvalid,
    Links,
    MailUnitOfWork,
    issue_token,
    peek_token,
    redeem_token,
)
from idp.services.ports import LoginThrottle, PasswordHasher, Record

CHANGE_PATH = "/email/change"
ACTION = "email_change"


@dataclass(frozen=True)
class ChangePolicy:
    links: Links
    ttl: int  # seconds the confirmation link stays valid


def _check_password(
    uow: MailUnitOfWork, hasher: PasswordHasher, login_throttle: LoginThrottle,
    caller: Caller, user: Record, password: str,
) -> None:  # fmt: skip
    wait = login_throttle.retry_after(user.username, caller.ip)
    if wait:
        raise LoginThrottled(wait)
    if not hasher.verify(user.password_hash, password):
        login_throttle.record_failure(user.username, caller.ip)
        audit.record(uow, "email.change_failed", caller, user_id=user.id)
        uow.commit()
        raise FieldErrors("Your current password is not correct.", "password")


def _new_address(uow: MailUnitOfWork, user: Record, new_email: str) -> str:
    try:
        address = validate_email(new_email.strip(), check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise FieldErrors(str(exc), "new_email") from None
    if address.lower() == user.email_key:
        raise FieldErrors("This is already your e-mail address.", "new_email")
    if uow.users.email_taken(address):
        raise FieldErrors("An account with this email already exists.", "new_email")
    return address


def request_change(
    uow: MailUnitOfWork,
    hasher: PasswordHasher,
    login_throttle: LoginThrottle,
    throttle: ActionThrottle,
    policy: ChangePolicy,
    caller: Caller,
    user: Record,
    *,
    new_email: str,
    password: str,
) -> str:
    """Mail the confirmation link to the new address; returns that address."""
    wait = throttle.retry_after(ACTION, acct=str(user.id), ip=caller.ip)
    if wait:
        raise ActionThrottled(f"Too many changes asked. Try again in {wait} seconds.", wait)
    _check_password(uow, hasher, login_throttle, caller, user, password)
    address = _new_address(uow, user, new_email)
    throttle.hit(ACTION, acct=str(user.id), ip=caller.ip)
    now = utcnow()
    uow.account_tokens.void_for_user(user.id, EMAIL_CHANGE, now)
    raw = issue_token(
        uow, user, EMAIL_CHANGE, now + timedelta(seconds=policy.ttl), now, new_email=address
    )
    uow.mail.queue(
        "email_change_confirm", to=address, username=user.username,
        link=policy.links.url(CHANGE_PATH, raw), hours=policy.ttl // 3600,
    )  # fmt: skip
    uow.mail.queue(
        "email_change_notice", to=user.email, username=user.username, new_email=address, done=False
    )
    audit.record(uow, "email.change_requested", caller, user_id=user.id)
    uow.commit()
    return address


def confirm_change(uow: MailUnitOfWork, caller: Caller, raw: str) -> Record:
    now = utcnow()
    row = peek_token(uow, EMAIL_CHANGE, raw, now)
    user = uow.users.get(row.user_id)
    if user is None or user.disabled_at is not None:
        raise LinkInvalid("This link is not valid. Check that you copied all of it.")
    if uow.users.email_taken(row.new_email):
        raise LinkInvalid("Another account uses that address now; the change cannot be made.")
    redeem_token(uow, EMAIL_CHANGE, raw, now)
    old = user.email
    user.email, user.email_key = row.new_email, row.new_email.lower()
    user.email_verified = True  # the link was read at the new address
    user.updated_at = now
    uow.account_tokens.void_for_user(user.id, VERIFY_EMAIL, now)
    uow.mail.queue(
        "email_change_notice", to=old, username=user.username, new_email=user.email, done=True
    )
    audit.record(uow, "email.changed", caller, user_id=user.id)
    uow.commit()
    return user
