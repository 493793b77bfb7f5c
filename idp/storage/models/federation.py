"""Upstream accounts (Discord, an OpenID provider) linked to Tessera accounts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from idp.domain.clock import utcnow
from idp.extensions import db
from idp.storage.models.base import UTCDateTime


class UpstreamLink(db.Model):
    """One upstream identity, linked to one Tessera account (docs/security.md#31).

    (provider, subject) is unique: a Discord account signs in to one Tessera account only.
    (user_id, provider) is unique too: one Discord account per Tessera account, so the
    `discord_id` claim and the token-exchange lookup have one answer.
    """

    __tablename__ = "upstream_links"
    __table_args__ = (
        UniqueConstraint("provider", "subject", name="uq_upstream_links_provider_subject"),
        UniqueConstraint("user_id", "provider", name="uq_upstream_links_user_provider"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    provider: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(255))
    username: Mapped[str] = mapped_column(String(255), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
