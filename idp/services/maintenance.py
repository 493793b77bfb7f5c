"""Pruning what can no longer matter, so tables stay the size of the live state.

Each rule keeps a row exactly as long as something could still depend on it: a rotated
refresh token stays until its family's absolute expiry (a replay must still revoke the
family), a used code a day past expiry, a revocation event until every token it covers has
expired. The audit log is never pruned here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_

from idp.extensions import db
from idp.storage.models import (
    AccessTokenRecord,
    AuthorizationCode,
    DeviceCode,
    LoginSession,
    RefreshToken,
    RevocationEvent,
)

GRACE = timedelta(days=1)


@dataclass(frozen=True)
class PruneReport:
    authorization_codes: int
    refresh_tokens: int
    access_token_records: int
    device_codes: int
    revocation_events: int
    login_sessions: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def prune(now: datetime, session_idle_ttl: int, session_absolute_ttl: int) -> PruneReport:
    def gone(statement) -> int:
        return (
            db.session.execute(statement.execution_options(synchronize_session=False)).rowcount or 0
        )

    report = PruneReport(
        authorization_codes=gone(
            delete(AuthorizationCode).where(AuthorizationCode.expires_at < now - GRACE)
        ),
        refresh_tokens=gone(delete(RefreshToken).where(RefreshToken.family_expires_at < now)),
        access_token_records=gone(
            delete(AccessTokenRecord).where(AccessTokenRecord.expires_at < now)
        ),
        device_codes=gone(delete(DeviceCode).where(DeviceCode.expires_at < now - GRACE)),
        revocation_events=gone(
            delete(RevocationEvent).where(
                RevocationEvent.until.is_not(None), RevocationEvent.until < now
            )
        ),
        login_sessions=gone(
            delete(LoginSession).where(
                or_(
                    LoginSession.last_seen_at < now - timedelta(seconds=session_idle_ttl),
                    LoginSession.created_at < now - timedelta(seconds=session_absolute_ttl),
                )
            )
        ),
    )
    db.session.commit()
    return report
