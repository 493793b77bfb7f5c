"""The one clock the policy code reads: timezone-aware UTC (freezegun moves it in tests)."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
