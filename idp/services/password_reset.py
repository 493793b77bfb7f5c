"""Password reset (issue 13): a mailed one-time link, an admin's reset link or forced change,
and the operator's link from the CLI.

The link is valid PASSWORD_RESET_TTL (30 min), used once, and only its SHA-256 is stored
(docs/security.md#31). Asking for one gives the same answer whether or not the account exists;
requests are counted per IP (over the limit: a 429) and per account (over the limit: no more
mail, the same answer, so neither an inbox can be flooded nor an account found out).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from idp.domain.clock import utcnow
from idp.domain.passwords import PasswordRejected, check_password
from idp.errors import FieldErrors
from idp.services import audit, revocation
from idp.services.context import Caller
from idp.services.mail import (
    PASSWORD_RESET,
    ActionThrottle,
    ActionThrottled,
    LinkInvalid,
    Links,
    MailUnitOfWork,
    issue_token,
    peek_token,
    redeem_token,
    token_digest,
)
from idp.services.ports import PasswordHasher, Record

RESET_PATH = "/password/reset"
ACTION = "password_reset"


@dataclass(frozen=True)
class ResetPolicy:
    links: Links
    ttl: int  # seconds a link stays valid


def _mail_link(uow: MailUnitOfWork, policy: ResetPolicy, user: Record, template: str) -> None:
    now = utcnow()
    raw = issue_token(uow, user, PASSWORD_RESET, now + timedelta(seconds=policy.ttl), now)
    uow.mail.queue(
        template,
        to=user.email,
        username=user.username,
        link=policy.links.url(RESET_PATH, raw),
        minutes=policy.ttl // 60,
    )


def request_reset(
    uow: MailUnitOfWork, throttle: ActionThrottle, policy: ResetPolicy, caller: Caller, login: str
) -> None:
    """Mail a reset link when `login` names a usable account; the caller always says the same."""
    wait = throttle.retry_after(ACTION, ip=caller.ip)
    if wait:
        audit.record(uow, "password.reset_throttled", caller)
        uow.commit()
        raise ActionThrottled(f"Too many requests. Try again in {wait} seconds.", wait)
    throttle.hit(ACTION, ip=caller.ip)
    login = login.strip()[:254]
    user = uow.users.by_login(login) if login else None
    usable = user is not None and user.disabled_at is None
    # The same steps whichever way it goes, so the time taken tells little: an unknown login
    # is counted under a key of its own, as an account would be.
    account = str(user.id) if usable else "login:" + token_digest(login.lower())[:32]
    over_limit = throttle.retry_after(ACTION, acct=account)
    if not over_limit:
        throttle.hit(ACTION, acct=account)
    if not usable:
        audit.record(uow, "password.reset_requested", caller, login=login, sent=False)
    elif over_limit:
        # Silently: a 429 here would tell that the account exists.
        audit.record(uow, "password.reset_suppressed", caller, user_id=user.id)
    else:
        _mail_link(uow, policy, user, "password_reset")
        audit.record(uow, "password.reset_requested", caller, user_id=user.id, sent=True)
    uow.commit()


def check_link(uow: MailUnitOfWork, raw: str) -> Record:
    """The account a live reset link is for (LinkInvalid otherwise); the link stays unused."""
    row = peek_token(uow, PASSWORD_RESET, raw, utcnow())
    user = uow.users.get(row.user_id)
    if user is None or user.disabled_at is not None:
        raise LinkInvalid("This link is not valid. Check that you copied all of it.")
    return user


def complete_reset(
    uow: MailUnitOfWork,
    hasher: PasswordHasher,
    window: revocation.RevocationWindow,
    caller: Caller,
    raw: str,
    *,
    new_password: str,
    revoke_apps: bool,
) -> Record:
    """Set the new password: every session ends; with `revoke_apps`, every app grant too (its
    refresh tokens die and resource servers are told, idp.services.revocation)."""
    user = check_link(uow, raw)
    try:  # before the link is used up: a refused password lets the user try another
        check_password(new_password, username=user.username, email=user.email)
    except PasswordRejected as exc:
        raise FieldErrors(str(exc), "password") from None
    now = utcnow()
    redeem_token(uow, PASSWORD_RESET, raw, now)
    uow.account_tokens.void_for_user(user.id, PASSWORD_RESET, now)
    user.password_hash = hasher.hash(new_password)
    user.password_changed_at = user.updated_at = now
    user.must_change_password = False
    user.email_verified = True  # the link was read in that mailbox
    uow.sessions.delete_for_user(user.id)
    grants = list(uow.grants.active_for_user(user.id)) if revoke_apps else []
    for grant in grants:
        revocation.revoke_grant(uow, window, grant, now)
    uow.mail.queue(
        "password_changed", to=user.email, username=user.username, apps_revoked=len(grants)
    )
    audit.record(uow, "password.reset", caller, user_id=user.id, grants_revoked=len(grants))
    uow.commit()
    return user


def admin_send_link(
    uow: MailUnitOfWork, policy: ResetPolicy, caller: Caller, admin: Record, user: Record
) -> None:
    if user.disabled_at is not None:
        raise FieldErrors("This account is disabled: enable it first.", "user")
    _mail_link(uow, policy, user, "password_reset_admin")
    audit.record(
        uow, "admin.password_reset_sent", caller, user_id=admin.id, target_user_id=user.id,
        target_username=user.username,
    )  # fmt: skip
    uow.commit()


def admin_force_change(uow: MailUnitOfWork, caller: Caller, admin: Record, user: Record) -> None:
    """The account's sessions end; its next sign-in must set a new password first."""
    if user.id == admin.id:
        raise FieldErrors("Change your own password from your account page.", "user")
    user.must_change_password = True
    user.updated_at = utcnow()
    uow.sessions.delete_for_user(user.id)
    audit.record(
        uow, "admin.password_change_forced", caller, user_id=admin.id, target_user_id=user.id,
        target_username=user.username,
    )  # fmt: skip
    uow.commit()


def operator_link(uow: MailUnitOfWork, policy: ResetPolicy, caller: Caller, user: Record) -> str:
    """`tessera users reset-password`: the link itself, printed instead of mailed."""
    now = utcnow()
    raw = issue_token(uow, user, PASSWORD_RESET, now + timedelta(seconds=policy.ttl), now)
    audit.record(uow, "operator.password_reset_link", caller, user_id=user.id)
    uow.commit()
    return policy.links.url(RESET_PATH, raw)


def forced_change(
    uow: MailUnitOfWork,
    hasher: PasswordHasher,
    caller: Caller,
    user: Record,
    *,
    new_password: str,
    keep_session: str,
) -> None:
    """The new password an admin required; it must differ from the old one."""
    try:
        check_password(new_password, username=user.username, email=user.email)
    except PasswordRejected as exc:
        raise FieldErrors(str(exc), "password") from None
    if hasher.verify(user.password_hash, new_password):
        raise FieldErrors("Choose a password different from your current one.", "password")
    user.password_hash = hasher.hash(new_password)
    user.password_changed_at = user.updated_at = utcnow()
    user.must_change_password = False
    uow.sessions.delete_for_user(user.id, keep=keep_session)
    audit.record(uow, "password.changed", caller, user_id=user.id, forced=True)
    uow.commit()
