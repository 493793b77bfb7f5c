"""The mail outbox, the sender's lease, and the one-time account links (issue 13)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from idp.domain.clock import utcnow
from idp.extensions import db
from idp.storage.models.base import UTCDateTime


class MailMessage(db.Model):
    """A composed mail, written in the transaction of the change that caused it.

    The sender (idp.storage.mail_sender) delivers it after the commit. Once sent the bodies are
    blanked: they may hold a one-time link, which must not outlive its delivery in plain text.
    """

    __tablename__ = "mail_outbox"
    __table_args__ = (Index("ix_mail_outbox_status_next_attempt_at", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    template: Mapped[str] = mapped_column(String(64))
    to_address: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(255))
    body_text: Mapped[str] = mapped_column(Text, default="")
    body_html: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(8), default="pending")  # pending | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str] = mapped_column(String(500), default="")


class MailSenderLease(db.Model):
    """Who sends mail: one row per role, held by one process until `expires_at`.

    A conditional UPDATE takes or renews it, so one sender is active across workers and
    instances, on SQLite and PostgreSQL alike; a sender that dies loses it when it lapses.
    """

    __tablename__ = "mail_sender_lease"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AccountToken(db.Model):
    """A one-time link (e-mail verification, password reset, e-mail change), stored hashed."""

    __tablename__ = "account_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    purpose: Mapped[str] = mapped_column(String(16))
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    new_email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
