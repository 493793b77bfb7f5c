"""Signing keys and the revocation feed's event log."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, Index, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from idp.domain.clock import utcnow
from idp.extensions import db
from idp.storage.models.base import UTCDateTime


class SigningKey(db.Model):
    """One key pair; the private half encrypted at rest (Fernet, key from configuration)."""

    __tablename__ = "signing_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kid: Mapped[str] = mapped_column(String(64), unique=True)
    alg: Mapped[str] = mapped_column(String(16))
    private_key_encrypted: Mapped[str] = mapped_column(Text)
    public_jwk: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Published from creation, signs only from this time (a rotated-in "next" key); None: at once.
    activates_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # No longer signs after this; still published until `unpublish_at`.
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    unpublish_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class RevocationEvent(db.Model):
    """An append-only log; its id is the revocation feed's cursor.

    It is also the outbox of the pushed channels (docs/revocation-events.md): `seq` is the
    publication order, given after commit by idp/storage/revocation_outbox.py (NULL: committed,
    not yet sequenced), and `pushed` says the event is on the Redis stream.
    """

    __tablename__ = "revocation_events"
    # Userinfo, introspection and the management API ask "is this jti revoked / is this app cut
    # off" on every call: an index keeps that a lookup however long the log grows.
    __table_args__ = (Index("ix_revocation_events_kind_subject", "kind", "subject"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(
        String(24)
    )  # token | grant | client_suspended | client_restored | client_cutoff
    subject: Mapped[str] = mapped_column(String(128))
    # After this time the entry matters to nobody: every token it could affect has expired.
    until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    seq: Mapped[int | None] = mapped_column(Integer, nullable=True, unique=True)
    pushed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false(), index=True)
