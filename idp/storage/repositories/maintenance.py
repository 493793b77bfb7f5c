"""Bulk deletes for `tessera prune`: each takes the cutoff the maintenance use case decided."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Delete, delete, or_

from idp.extensions import db
from idp.storage.models import (
    AccessTokenRecord,
    AccountToken,
    AuthorizationCode,
    DeviceCode,
    LoginSession,
    MailMessage,
    RefreshToken,
    RevocationEvent,
)


def _deleted(statement: Delete) -> int:
    result = db.session.execute(statement.execution_options(synchronize_session=False))
    return result.rowcount or 0


class SqlAlchemyPruning:
    def authorization_codes_expired_before(self, moment: datetime) -> int:
        return _deleted(delete(AuthorizationCode).where(AuthorizationCode.expires_at < moment))

    def refresh_tokens_whose_family_expired_before(self, moment: datetime) -> int:
        return _deleted(delete(RefreshToken).where(RefreshToken.family_expires_at < moment))

    def access_token_records_expired_before(self, moment: datetime) -> int:
        return _deleted(delete(AccessTokenRecord).where(AccessTokenRecord.expires_at < moment))

    def device_codes_expired_before(self, moment: datetime) -> int:
        return _deleted(delete(DeviceCode).where(DeviceCode.expires_at < moment))

    def revocation_events_lapsed_before(self, moment: datetime) -> int:
        return _deleted(
            delete(RevocationEvent).where(
                RevocationEvent.until.is_not(None), RevocationEvent.until < moment
            )
        )

    def login_sessions_idle_or_started_before(self, last_seen: datetime, created: datetime) -> int:
        return _deleted(
            delete(LoginSession).where(
                or_(LoginSession.last_seen_at < last_seen, LoginSession.created_at < created)
            )
        )

    def account_tokens_expired_before(self, moment: datetime) -> int:
        return _deleted(delete(AccountToken).where(AccountToken.expires_at < moment))

    def mail_messages_done_before(self, moment: datetime) -> int:
        """Sent or given-up mail; a pending one stays whatever its age (the sender decides)."""
        return _deleted(
            delete(MailMessage).where(
                MailMessage.status != "pending", MailMessage.created_at < moment
            )
        )
