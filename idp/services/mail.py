"""The ports of e-mail and one-time account links (issue 13).

A use case never sends mail: it queues a message in the unit of work's outbox
(``uow.mail.queue``), in the same transaction as the change the mail is about. The sender
(idp.storage.mail_sender) delivers it after the commit and retries, so a slow or down mail
server neither slows the page nor loses the message, and a rolled-back change sends nothing.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from idp.services.ports import Record, UnitOfWork

VERIFY_EMAIL = "verify_email"
PASSWORD_RESET = "password_reset"
EMAIL_CHANGE = "email_change"


class MailOutbox(Protocol):
    def queue(self, template: str, to: str, **context: Any) -> None:
        """Compose `templates/mail/<template>.*` with `context` and keep it for the sender."""


class AccountTokenRepository(Protocol):
    def create(self, **fields: Any) -> Record: ...
    def by_digest(self, digest: str) -> Record | None: ...
    def claim(self, purpose: str, digest: str, now: datetime) -> Record | None:
        """Mark the live, unused token used and return it; None when another use won."""

    def void_for_user(self, user_id: int, purpose: str, now: datetime) -> int:
        """Use up every outstanding token of this purpose (a newer one, or the deed, is done)."""


class MailUnitOfWork(UnitOfWork, Protocol):
    mail: MailOutbox
    account_tokens: AccountTokenRepository


class ActionThrottle(Protocol):
    """Counts of an action (a reset asked, a mail resent) per account and per IP."""

    def retry_after(self, action: str, **keys: str) -> int: ...
    def hit(self, action: str, **keys: str) -> None: ...


class ActionThrottled(Exception):
    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class LinkInvalid(Exception):
    """A one-time link that cannot be used: the message says why, in words for the user."""


def token_digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@dataclass(frozen=True)
class Links:
    """Where the mailed links point: the issuer's pages."""

    issuer: str

    def url(self, path: str, token: str) -> str:
        return f"{self.issuer.rstrip('/')}{path}/{token}"


def issue_token(
    uow: MailUnitOfWork,
    user: Record,
    purpose: str,
    expires_at: datetime,
    now: datetime,
    new_email: str | None = None,
) -> str:
    """A new one-time token; only its SHA-256 is stored (docs/security.md#31)."""
    raw = secrets.token_urlsafe(32)
    uow.account_tokens.create(
        purpose=purpose,
        digest=token_digest(raw),
        user_id=user.id,
        new_email=new_email,
        created_at=now,
        expires_at=expires_at,
    )
    return raw


def peek_token(uow: MailUnitOfWork, purpose: str, raw: str, now: datetime) -> Record:
    """The live token, without using it up, or LinkInvalid saying what is wrong with it."""
    row = uow.account_tokens.by_digest(token_digest(raw or ""))
    if row is None or row.purpose != purpose:
        raise LinkInvalid("This link is not valid. Check that you copied all of it.")
    if row.used_at is not None:
        raise LinkInvalid("This link has already been used. Ask for a new one.")
    if row.expires_at <= now:
        raise LinkInvalid("This link has expired. Ask for a new one.")
    return row


def redeem_token(uow: MailUnitOfWork, purpose: str, raw: str, now: datetime) -> Record:
    """Use the token up, once: two requests racing with the same link, one wins."""
    peek_token(uow, purpose, raw, now)
    row = uow.account_tokens.claim(purpose, token_digest(raw), now)
    if row is None:
        raise LinkInvalid("This link has already been used. Ask for a new one.")
    return row
