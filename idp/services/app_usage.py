"""What the portal tells a developer about an app's use: per day, tokens issued, active users and
token-endpoint errors by code (with what each code usually means); last use."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from idp.domain.clock import utcnow
from idp.services.ports import Record, UnitOfWork

DAYS = 30


# What a token-endpoint error code (RFC 6749 5.2, RFC 8628 3.5) usually means for the app.
ERROR_HINTS = {
    "invalid_client": "Wrong or expired client secret, unknown client_id, or an authentication "
    "method this app may not use.",
    "invalid_grant": "A code or refresh token that is expired, already used or revoked, or a "
    "redirect_uri or PKCE verifier that does not match.",
    "invalid_request": "A missing or repeated parameter.",
    "invalid_scope": "A scope the app may not ask for (see Access and limits).",
    "unauthorized_client": "The app may not use this grant type, or it is suspended.",
    "unsupported_grant_type": "A grant type Tessera does not know.",
    "authorization_pending": "Device flow: the user has not answered yet (normal while polling).",
    "slow_down": "Device flow: polling faster than the interval.",
    "expired_token": "Device flow: the device code expired before the user answered.",
    "access_denied": "The user said no.",
    "rate_limited": "Over the app's rate limit.",
}


@dataclass(frozen=True)
class Day:
    day: date
    tokens: int
    active_users: int
    errors: dict[str, int]

    @property
    def error_total(self) -> int:
        return sum(self.errors.values())


@dataclass(frozen=True)
class Usage:
    daily: list[tuple[date, int]]  # oldest first, one entry per day, zeros included
    active_users: int
    last_used: datetime | date | None  # a date when only the daily counter knows
    days: list[Day] = field(default_factory=list)  # newest first, only days with activity

    @property
    def total(self) -> int:
        return sum(n for _, n in self.daily)

    @property
    def errors_by_code(self) -> list[tuple[str, int, str]]:
        """(code, count over the period, what it usually means), most frequent first."""
        totals: dict[str, int] = {}
        for d in self.days:
            for code, n in d.errors.items():
                totals[code] = totals.get(code, 0) + n
        ordered = sorted(totals.items(), key=lambda item: (-item[1], item[0]))
        return [(code, n, ERROR_HINTS.get(code, "")) for code, n in ordered]


def usage_for(
    uow: UnitOfWork, client: Record, today: date | None = None, days: int = DAYS
) -> Usage:
    today = today or utcnow().date()
    first = today - timedelta(days=days - 1)
    counts = uow.app_usage.daily_counts(client.id, first)
    daily = [(first + timedelta(days=i), 0) for i in range(days)]
    daily = [(d, int(counts.get(d, 0))) for d, _ in daily]
    active = uow.app_usage.active_users(client.id)
    return Usage(
        daily=daily,
        active_users=active,
        last_used=_last_used(uow, client),
        days=_days(uow, client.id, first, counts),
    )


def _days(uow: UnitOfWork, client_pk: int, first: date, tokens: dict[date, int]) -> list[Day]:
    users = uow.app_usage.daily_active_users(client_pk, first)
    errors: dict[date, dict[str, int]] = {}
    for (day, code), n in uow.app_usage.daily_errors(client_pk, first).items():
        errors.setdefault(day, {})[code] = n
    seen = sorted({*tokens, *users, *errors}, reverse=True)
    return [
        Day(d, int(tokens.get(d, 0)), users.get(d, 0), dict(sorted(errors.get(d, {}).items())))
        for d in seen
    ]


def _last_used(uow: UnitOfWork, client: Record) -> datetime | date | None:
    token = uow.app_usage.last_token_at(client.id)
    grant = uow.app_usage.last_grant_use(client.id)
    candidates = [t for t in (token, grant) if t is not None]
    if candidates:
        return max(candidates)
    # Apps acting for themselves leave no token rows; their daily counter still tells the day.
    return uow.app_usage.last_counted_day(client.id)
