"""The signing keys as the operator lists them (the KeyStore signs and publishes them)."""

from __future__ import annotations

from sqlalchemy import select

from idp.extensions import db
from idp.storage.models import SigningKey


class SqlAlchemySigningKeyRepository:
    def all(self) -> list[SigningKey]:
        stmt = select(SigningKey).order_by(SigningKey.created_at, SigningKey.id)
        return list(db.session.scalars(stmt))
