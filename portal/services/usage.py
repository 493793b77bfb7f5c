"""What the portal tells a developer about an app's use: tokens per day, active users, last use."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select

from idp.domain.clock import utcnow
from idp.extensions import db
from idp.storage.models import AccessTokenRecord, Client, Grant, UsageDaily

DAYS = 30


@dataclass(frozen=True)
class Usage:
    daily: list[tuple[date, int]]  # oldest first, one entry per day, zeros included
    active_users: int
    last_used: datetime | date | None  # a date when only the daily counter knows

    @property
    def total(self) -> int:
        return sum(n for _, n in self.daily)


def usage_for(client: Client, today: date | None = None, days: int = DAYS) -> Usage:
    today = today or utcnow().date()
    first = today - timedelta(days=days - 1)
    counts = dict(
        db.session.execute(
            select(UsageDaily.day, UsageDaily.tokens_issued).where(
                UsageDaily.client_pk == client.id, UsageDaily.day >= first
            )
        ).all()
    )
    daily = [(first + timedelta(days=i), 0) for i in range(days)]
    daily = [(d, int(counts.get(d, 0))) for d, _ in daily]
    active = db.session.scalar(
        select(func.count(Grant.id)).where(Grant.client_pk == client.id, Grant.revoked_at.is_(None))
    )
    return Usage(daily=daily, active_users=int(active or 0), last_used=_last_used(client))


def _last_used(client: Client) -> datetime | date | None:
    token = db.session.scalar(
        select(func.max(AccessTokenRecord.created_at)).where(
            AccessTokenRecord.client_pk == client.id
        )
    )
    grant = db.session.scalar(
        select(func.max(Grant.last_used_at)).where(Grant.client_pk == client.id)
    )
    # Apps acting for themselves leave no token rows; their daily counter still tells the day.
    day = db.session.scalar(
        select(func.max(UsageDaily.day)).where(UsageDaily.client_pk == client.id)
    )
    candidates = [t for t in (token, grant) if t is not None]
    if candidates:
        return max(candidates)
    return day
