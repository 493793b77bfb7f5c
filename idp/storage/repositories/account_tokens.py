"""One-time account links (idp.services.mail): stored by digest, used up by one UPDATE."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from idp.extensions import db
from idp.storage.models import AccountToken


class SqlAlchemyAccountTokenRepository:
    def create(self, **fields: Any) -> AccountToken:
        row = AccountToken(**fields)
        db.session.add(row)
        return row

    def by_digest(self, digest: str) -> AccountToken | None:
        return db.session.scalar(select(AccountToken).where(AccountToken.digest == digest))

    def claim(self, purpose: str, digest: str, now: datetime) -> AccountToken | None:
        # The WHERE re-checks under the row lock: of two requests with one link, one updates.
        claimed = db.session.execute(
            update(AccountToken)
            .where(
                AccountToken.digest == digest,
                AccountToken.purpose == purpose,
                AccountToken.used_at.is_(None),
                AccountToken.expires_at > now,
            )
            .values(used_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        if claimed != 1:
            return None
        row = self.by_digest(digest)
        db.session.refresh(row)
        return row

    def void_for_user(self, user_id: int, purpose: str, now: datetime) -> int:
        return db.session.execute(
            update(AccountToken)
            .where(
                AccountToken.user_id == user_id,
                AccountToken.purpose == purpose,
                AccountToken.used_at.is_(None),
            )
            .values(used_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
