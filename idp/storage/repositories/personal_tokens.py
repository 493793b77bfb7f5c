"""Personal access tokens (idp.services.personal_tokens)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from idp.extensions import db
from idp.storage.models import PersonalAccessToken


class SqlAlchemyPersonalTokenRepository:
    def create(self, **fields: Any) -> PersonalAccessToken:
        row = PersonalAccessToken(**fields)
        db.session.add(row)
        return row

    def by_public_id(self, public_id: str) -> PersonalAccessToken | None:
        return db.session.scalar(
            select(PersonalAccessToken).where(PersonalAccessToken.public_id == public_id)
        )

    def for_user(self, user_id: int) -> list[PersonalAccessToken]:
        """The user's tokens, newest first."""
        return list(
            db.session.scalars(
                select(PersonalAccessToken)
                .where(PersonalAccessToken.user_id == user_id)
                .order_by(PersonalAccessToken.created_at.desc(), PersonalAccessToken.id.desc())
            )
        )
