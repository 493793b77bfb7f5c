"""What the portal tells a developer about an app's use: tokens per day, active users, last use."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from idp.domain.clock import utcnow
from idp.services.ports import Record, UnitOfWork

DAYS = 30


@dataclass(frozen=True)
class Usage:
    daily: list[tuple[date, int]]  # oldest first, one entry per day, zeros included
    active_users: int
    last_used: datetime | date | None  # a date when only the daily counter knows

    @property
    def total(self) -> int:
        return sum(n for _, n in self.daily)


def usage_for(
    uow: UnitOfWork, client: Record, today: date | None = None, days: int = DAYS
) -> Usage:
    today = today or utcnow().date()
    first = today - timedelta(days=days - 1)
    counts = uow.app_usage.daily_counts(client.id, first)
    daily = [(first + timedelta(days=i), 0) for i in range(days)]
    daily = [(d, int(counts.get(d, 0))) for d, _ in daily]
    active = uow.app_usage.active_users(client.id)
    return Usage(daily=daily, active_users=active, last_used=_last_used(uow, client))


def _last_used(uow: UnitOfWork, client: Record) -> datetime | date | None:
    token = uow.app_usage.last_token_at(client.id)
    grant = uow.app_usage.last_grant_use(client.id)
    candidates = [t for t in (token, grant) if t is not None]
    if candidates:
        return max(candidates)
    # Apps acting for themselves leave no token rows; their daily counter still tells the day.
    return uow.app_usage.last_counted_day(client.id)
