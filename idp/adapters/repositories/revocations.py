"""The revocation event log behind the feed."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, or_, select

from idp.adapters.models import RevocationEvent
from idp.extensions import db


class SqlAlchemyRevocationLog:
    def append(self, kind: str, subject: str, until: datetime | None) -> None:
        db.session.add(RevocationEvent(kind=kind, subject=subject, until=until))

    def since(self, cursor: int, limit: int) -> list[RevocationEvent]:
        return list(
            db.session.scalars(
                select(RevocationEvent)
                .where(RevocationEvent.id > cursor)
                .order_by(RevocationEvent.id)
                .limit(limit)
            )
        )

    def in_force(self, now: datetime) -> list[RevocationEvent]:
        return list(
            db.session.scalars(
                select(RevocationEvent)
                .where(or_(RevocationEvent.until.is_(None), RevocationEvent.until > now))
                .order_by(RevocationEvent.id)
            )
        )

    def token_revoked(self, jti: str, now: datetime) -> bool:
        return (
            db.session.scalar(
                select(RevocationEvent.id)
                .where(RevocationEvent.kind == "token", RevocationEvent.subject == jti)
                .limit(1)
            )
            is not None
        )

    def latest_id(self) -> int:
        return db.session.scalar(select(func.max(RevocationEvent.id))) or 0

    def oldest_id(self) -> int:
        return db.session.scalar(select(func.min(RevocationEvent.id))) or 0
