"""Account use cases: register, authenticate, change password, open and check login sessions."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from email_validator import EmailNotValidError, validate_email

from idp.domain.clock import utcnow
from idp.domain.passwords import PasswordRejected, check_password
from idp.errors import FieldErrors
from idp.services import audit
from idp.services.context import Caller
from idp.services.ports import (
    LoginThrottle,
    PasswordHasher,
    Record,
    RegistrationThrottle,
    UnitOfWork,
)

USERNAME_RE = re.compile(r"^[A-Za-z0-9_.-]{3,32}$")


class LoginThrottled(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"Too many failed attempts. Try again in {retry_after} seconds.")
        self.retry_after = retry_after


class RegistrationThrottled(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(
            f"Too many new accounts from your network. Try again in {retry_after} seconds."
        )
        self.retry_after = retry_after


INVALID_LOGIN = "Incorrect username or password."


def register(
    uow: UnitOfWork,
    hasher: PasswordHasher,
    caller: Caller,
    *,
    username: str,
    email: str,
    password: str,
    throttle: RegistrationThrottle | None = None,
) -> Record:
    """A new account; `throttle` (the web's per-IP registration limit) is None for operators."""
    if throttle is not None:
        wait = throttle.retry_after(caller.ip)
        if wait:
            raise RegistrationThrottled(wait)
    username, email = username.strip(), email.strip()
    if not USERNAME_RE.match(username):
        raise FieldErrors("3 to 32 letters, digits, dots, dashes or underscores.", "username")
    try:
        email = validate_email(email, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise FieldErrors(str(exc), "email") from None
    try:
        check_password(password, username=username, email=email)
    except PasswordRejected as exc:
        raise FieldErrors(str(exc), "password") from None
    if uow.users.username_taken(username):
        raise FieldErrors("This username is taken.", "username")
    if uow.users.email_taken(email):
        # Registration necessarily tells whether an email is known; login does not.
        raise FieldErrors("An account with this email already exists.", "email")
    user = uow.users.create(
        subject=secrets.token_hex(16),
        username=username,
        username_key=username.lower(),
        email=email,
        email_key=email.lower(),
        password_hash=hasher.hash(password),
    )
    audit.record(uow, "account.registered", caller, user_id=user.id, username=username)
    uow.commit()
    if throttle is not None:
        throttle.record(caller.ip)
    return user


def authenticate(
    uow: UnitOfWork,
    hasher: PasswordHasher,
    throttle: LoginThrottle,
    caller: Caller,
    *,
    login: str,
    password: str,
) -> Record:
    """The user for these credentials, or FieldErrors / LoginThrottled.

    Unknown account and wrong password take the same work and give the same message
    (docs/security.md#20), so neither timing nor wording reveals who has an account. A disabled
    account says so, but only once the password has been verified.
    """
    wait = throttle.retry_after(login, caller.ip)
    if wait:
        audit.record(uow, "login.throttled", caller, login=login[:254])
        uow.commit()
        raise LoginThrottled(wait)
    user = uow.users.by_login(login) if login.strip() else None
    if user is None:
        hasher.burn(password)
        ok = False
    else:
        ok = hasher.verify(user.password_hash, password)
    if not ok:
        throttle.record_failure(login, caller.ip)
        audit.record(
            uow, "login.failed", caller, user_id=user.id if user else None, login=login[:254]
        )
        uow.commit()
        raise FieldErrors(INVALID_LOGIN)
    _refuse_disabled(uow, caller, user)
    if hasher.needs_rehash(user.password_hash):
        previous = hasher.scheme(user.password_hash)
        user.password_hash = hasher.hash(password)
        audit.record(uow, "password.rehashed", caller, user_id=user.id, previous=previous)
        # Committed here, not left for the login that usually follows: the new hash must not
        # depend on the caller opening a session.
        uow.commit()
    return user


class AccountDisabled(FieldErrors):
    """The password was right but the account is disabled: told only to whoever knows the
    password, so it reveals nothing a guesser could use (docs/security.md#20)."""

    def __init__(self) -> None:
        super().__init__(ACCOUNT_DISABLED)


ACCOUNT_DISABLED = "This account is disabled. Contact the site's administrators."


def _refuse_disabled(uow: UnitOfWork, caller: Caller, user: Record) -> None:
    if user.disabled_at is not None:
        audit.record(uow, "login.refused_disabled", caller, user_id=user.id)
        uow.commit()
        raise AccountDisabled()


def change_password(
    uow: UnitOfWork,
    hasher: PasswordHasher,
    throttle: LoginThrottle,
    caller: Caller,
    user: Record,
    *,
    current: str,
    new: str,
    keep_session: str,
) -> None:
    """A wrong current password is a password guess: it spends the login's budget (per account
    and per IP, docs/security.md#20), so a stolen session cannot guess without limit."""
    wait = throttle.retry_after(user.username, caller.ip)
    if wait:
        audit.record(uow, "password.change_throttled", caller, user_id=user.id)
        uow.commit()
        raise LoginThrottled(wait)
    if not hasher.verify(user.password_hash, current):
        throttle.record_failure(user.username, caller.ip)
        audit.record(uow, "password.change_failed", caller, user_id=user.id)
        uow.commit()
        raise FieldErrors("Your current password is not correct.", "current_password")
    try:
        check_password(new, username=user.username, email=user.email)
    except PasswordRejected as exc:
        raise FieldErrors(str(exc), "new_password") from None
    user.password_hash = hasher.hash(new)
    user.password_changed_at = user.updated_at = utcnow()
    # Other devices' sessions end: a password change is what people do when they fear theft.
    uow.sessions.delete_for_user(user.id, keep=keep_session)
    audit.record(uow, "password.changed", caller, user_id=user.id)
    uow.commit()


# --- login sessions -------------------------------------------------------------------------


def session_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class SessionPolicy:
    idle_ttl: int
    absolute_ttl: int

    def expired(self, login_session: Record, now: datetime) -> bool:
        return now - login_session.last_seen_at > timedelta(
            seconds=self.idle_ttl
        ) or now - login_session.created_at > timedelta(seconds=self.absolute_ttl)

    @property
    def touch_interval(self) -> timedelta:
        """How stale last_seen may get: a page view should not always cost a database write."""
        return timedelta(seconds=min(60, self.idle_ttl // 10))


def open_session(
    uow: UnitOfWork, caller: Caller, user: Record, *, previous_token: str | None, amr: str = "pwd"
) -> str:
    """A new session id at every login (docs/security.md#21); the old one, if any, is dropped."""
    if previous_token:
        uow.sessions.delete(session_digest(previous_token))
    token = secrets.token_urlsafe(32)
    now = utcnow()
    uow.sessions.create(
        id_digest=session_digest(token),
        user_id=user.id,
        created_at=now,
        last_seen_at=now,
        auth_time=now,
        amr=amr,
        ip=caller.ip[:64],
        user_agent=caller.user_agent[:255],
    )
    audit.record(uow, "login.succeeded", caller, user_id=user.id)
    uow.commit()
    return token


def resume_session(
    uow: UnitOfWork, policy: SessionPolicy, token: str
) -> tuple[Record, Record] | None:
    """The live session and its user, or None when unknown, expired or the user is disabled."""
    login_session = uow.sessions.get(session_digest(token))
    if login_session is None:
        return None
    now = utcnow()
    user = uow.users.get(login_session.user_id)
    if policy.expired(login_session, now) or user is None or user.disabled_at is not None:
        uow.sessions.delete(login_session.id_digest)
        uow.commit()
        return None
    if now - login_session.last_seen_at >= policy.touch_interval:
        uow.sessions.touch(login_session, now)
        uow.commit()
    return login_session, user


def close_session(uow: UnitOfWork, caller: Caller, token: str, user_id: int | None) -> None:
    uow.sessions.delete(session_digest(token))
    if user_id is not None:
        audit.record(uow, "logout", caller, user_id=user_id)
    uow.commit()
