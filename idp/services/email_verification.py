"""E-mail verification (issue 13): a mailed link, single use, valid 24 h, stored hashed.

The link names the address it was sent to: after an e-mail change, an old link verifies
nothing. Once verified, `email_verified` is true in userinfo and ID tokens
(idp.domain.claims). Whether an unverified account may authorize apps is a setting
(TESSERA_UNVERIFIED_MAY_CONSENT), decided by `may_consent`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from idp.domain.clock import utcnow
from idp.errors import FieldErrors
from idp.services import audit
from idp.services.context import Caller
from idp.services.mail import (
    VERIFY_EMAIL,
    ActionThrottle,
    ActionThrottled,
    LinkInvalid,
    Links,
    MailUnitOfWork,
    issue_token,
    redeem_token,
)
from idp.services.ports import Record

VERIFY_PATH = "/email/verify"
ACTION = "verify_resend"


@dataclass(frozen=True)
class VerificationPolicy:
    links: Links
    ttl: int  # seconds a link stays valid
    unverified_may_consent: bool


def send_link(
    uow: MailUnitOfWork, policy: VerificationPolicy, caller: Caller, user: Record
) -> None:
    """A new link (older ones stop working), mailed to the account's current address."""
    if user.email_verified:
        return
    now = utcnow()
    uow.account_tokens.void_for_user(user.id, VERIFY_EMAIL, now)
    raw = issue_token(
        uow, user, VERIFY_EMAIL, now + timedelta(seconds=policy.ttl), now,
        new_email=user.email_key,
    )  # fmt: skip
    uow.mail.queue(
        "verify_email",
        to=user.email,
        username=user.username,
        link=policy.links.url(VERIFY_PATH, raw),
        hours=policy.ttl // 3600,
    )
    audit.record(uow, "email.verification_sent", caller, user_id=user.id)
    uow.commit()


def resend(
    uow: MailUnitOfWork,
    throttle: ActionThrottle,
    policy: VerificationPolicy,
    caller: Caller,
    user: Record,
) -> None:
    if user.email_verified:
        raise FieldErrors("Your e-mail address is already verified.")
    wait = throttle.retry_after(ACTION, acct=str(user.id), ip=caller.ip)
    if wait:
        raise ActionThrottled(f"We sent one recently. Try again in {wait} seconds.", wait)
    throttle.hit(ACTION, acct=str(user.id), ip=caller.ip)
    send_link(uow, policy, caller, user)


def verify(uow: MailUnitOfWork, caller: Caller, raw: str) -> Record:
    row = redeem_token(uow, VERIFY_EMAIL, raw, utcnow())
    user = uow.users.get(row.user_id)
    if user is None or user.disabled_at is not None:
        uow.rollback()
        raise LinkInvalid("This link is not valid. Check that you copied all of it.")
    if row.new_email != user.email_key:
        uow.commit()  # used up all the same
        raise LinkInvalid("This link was sent to an address your account no longer uses.")
    user.email_verified = True
    user.updated_at = utcnow()
    audit.record(uow, "email.verified", caller, user_id=user.id)
    uow.commit()
    return user


def may_consent(policy: VerificationPolicy, user: Record) -> bool:
    return policy.unverified_may_consent or bool(user.email_verified)
