"""Repository for upstream account links (idp.services.ports.UpstreamLinkRepository)."""

from __future__ import annotations

from sqlalchemy import select

from idp.extensions import db
from idp.storage.models import UpstreamLink


class SqlAlchemyUpstreamLinkRepository:
    def by_subject(self, provider: str, subject: str) -> UpstreamLink | None:
        return db.session.scalar(
            select(UpstreamLink).where(
                UpstreamLink.provider == provider, UpstreamLink.subject == subject
            )
        )

    def of_user(self, user_id: int, provider: str) -> UpstreamLink | None:
        return db.session.scalar(
            select(UpstreamLink).where(
                UpstreamLink.user_id == user_id, UpstreamLink.provider == provider
            )
        )

    def for_user(self, user_id: int) -> list[UpstreamLink]:
        stmt = select(UpstreamLink).where(UpstreamLink.user_id == user_id)
        return list(db.session.scalars(stmt.order_by(UpstreamLink.id)))

    def create(self, **fields: object) -> UpstreamLink:
        row = UpstreamLink(**fields)
        db.session.add(row)
        db.session.flush()  # the unique constraints speak here, inside the use case
        return row

    def delete(self, row: UpstreamLink) -> None:
        db.session.delete(row)
