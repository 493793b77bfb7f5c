"""Registered apps (OAuth clients), their secrets, members, logos and access requests."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from idp.domain.clock import utcnow
from idp.extensions import db
from idp.storage.models.base import UTCDateTime


class Client(db.Model):
    __tablename__ = "clients"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    homepage_url: Mapped[str] = mapped_column(String(500), default="")
    privacy_url: Mapped[str] = mapped_column(String(500), default="")
    tos_url: Mapped[str] = mapped_column(String(500), default="")
    app_type: Mapped[str] = mapped_column(String(16))
    redirect_uris: Mapped[list] = mapped_column(JSON, default=list)
    post_logout_redirect_uris: Mapped[list] = mapped_column(JSON, default=list)
    grant_types: Mapped[list] = mapped_column(JSON, default=list)
    allowed_scopes: Mapped[list] = mapped_column(JSON, default=list)
    tier: Mapped[str] = mapped_column(String(32), default="default")
    custom_rps: Mapped[float | None] = mapped_column(Float, nullable=True)
    custom_burst: Mapped[int | None] = mapped_column(Integer, nullable=True)
    require_pkce: Mapped[bool] = mapped_column(Boolean, default=True)
    access_token_ttl: Mapped[int | None] = mapped_column(Integer, nullable=True)
    refresh_token_ttl: Mapped[int | None] = mapped_column(Integer, nullable=True)
    verified: Mapped[bool] = mapped_column(Boolean, default=False)
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True, index=True
    )
    suspended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    suspended_reason: Mapped[str] = mapped_column(String(500), default="")
    # Set by an admin only: the operator's own apps (no consent screen, docs/federation.md).
    first_party: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    token_exchange: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )  # RFC 8693, first-party
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    secrets: Mapped[list[ClientSecret]] = relationship(
        back_populates="client", cascade="all, delete-orphan", lazy="selectin"
    )


class ClientSecret(db.Model):
    """A SHA-256 digest of a 256-bit server-generated secret; several may overlap during rotation."""

    __tablename__ = "client_secrets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_pk: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), index=True)
    digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The secret's last 4 characters (about 24 of its 256 bits), so a developer can tell which
    # one a deployment holds; None for secrets made before this was kept.
    last4: Mapped[str | None] = mapped_column(String(4), nullable=True)
    # Written at most once a minute (idp/services/secret_use.py): a busy client costs no write
    # per request.
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    client: Mapped[Client] = relationship(back_populates="secrets")


class ClientMember(db.Model):
    __tablename__ = "client_members"
    __table_args__ = (UniqueConstraint("client_pk", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_pk: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16), default="developer")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ClientLogo(db.Model):
    __tablename__ = "client_logos"

    client_pk: Mapped[int] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), primary_key=True
    )
    content_type: Mapped[str] = mapped_column(String(32))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AccessRequest(db.Model):
    """A developer's request for restricted scopes or a higher tier, decided by an admin."""

    __tablename__ = "access_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_pk: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # "scopes" or "tier"
    scopes: Mapped[list] = mapped_column(JSON, default=list)
    tier: Mapped[str] = mapped_column(String(32), default="")
    # The app's tier when the request was filed, replaced by its tier at approval: the tier
    # history reads "from default to partner" even after the approval changed the app.
    from_tier: Mapped[str] = mapped_column(String(32), default="", server_default="")
    justification: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    requested_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    decided_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class UsageErrorDaily(db.Model):
    """Token-endpoint errors per app per day, by RFC 6749 error code: why an app fails."""

    __tablename__ = "usage_errors_daily"
    __table_args__ = (UniqueConstraint("client_pk", "day", "error"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_pk: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), index=True)
    day: Mapped[date] = mapped_column(Date)
    error: Mapped[str] = mapped_column(String(40))
    count: Mapped[int] = mapped_column(Integer, default=0)


class UsageActiveUser(db.Model):
    """One row per user who got a token from an app on a day: the daily active users."""

    __tablename__ = "usage_active_users"
    __table_args__ = (UniqueConstraint("client_pk", "day", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_pk: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), index=True)
    day: Mapped[date] = mapped_column(Date)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)


class UsageDaily(db.Model):
    """Tokens issued per app per day, for the portal's charts."""

    __tablename__ = "usage_daily"
    __table_args__ = (UniqueConstraint("client_pk", "day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_pk: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), index=True)
    day: Mapped[date] = mapped_column(Date)
    tokens_issued: Mapped[int] = mapped_column(Integer, default=0)
