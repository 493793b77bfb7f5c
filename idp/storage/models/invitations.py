"""Invitations to work on an app: a member only once the invitee accepts (issue 12 item 15)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from idp.domain.clock import utcnow
from idp.extensions import db
from idp.storage.models.base import UTCDateTime


class ClientInvitation(db.Model):
    __tablename__ = "client_invitations"
    __table_args__ = (UniqueConstraint("client_pk", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_pk: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), index=True)
    # The invitee; the row is deleted when they answer, so it never outlives a decision.
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16), default="developer")
    invited_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
