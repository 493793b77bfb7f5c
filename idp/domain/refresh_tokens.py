"""Refresh-token policy (RFC 9700 4.14.2): rotation, reuse, lifetimes. Pure: plain values in,
a decision out.

Every use rotates the token; the new one belongs to the same family (the lineage of one
authorization). A rotated token presented again means either two requests of the same client
racing (the loser is refused, nothing more) or a stolen copy (the whole family is revoked).
A token lives until its idle expiry or its family's absolute expiry, whichever comes first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum


class Reuse(Enum):
    """What a rotated token presented again means."""

    CONCURRENT = "concurrent"  # rotated a moment ago by a racing request: refuse, revoke nothing
    REPLAY = "replay"  # two parties hold it: revoke the whole family


def classify_reuse(rotated_at: datetime | None, now: datetime, grace_seconds: int) -> Reuse:
    """A rotated token came back: within the grace after its rotation it is a race, else theft.

    No grace (the default) means no exception at all, even for a reuse in the same instant.
    """
    if grace_seconds <= 0 or rotated_at is None:
        return Reuse.REPLAY
    if now - rotated_at <= timedelta(seconds=grace_seconds):
        return Reuse.CONCURRENT
    return Reuse.REPLAY


def is_expired(expires_at: datetime, family_expires_at: datetime, now: datetime) -> bool:
    """Past its idle expiry or its family's absolute one."""
    return expires_at <= now or family_expires_at <= now


@dataclass(frozen=True)
class Expiry:
    expires_at: datetime  # this token's: the idle expiry, capped by the family's
    family_expires_at: datetime


def new_token_expiry(
    now: datetime,
    *,
    idle_ttl: int,
    absolute_ttl: int,
    client_absolute_ttl: int | None = None,
    family_expires_at: datetime | None = None,
) -> Expiry:
    """Lifetimes of a newly issued refresh token.

    A new family gets the app's own absolute lifetime, or the server's; a rotated token keeps
    its family's expiry, so rotation never extends the lineage.
    """
    family = family_expires_at or now + timedelta(seconds=client_absolute_ttl or absolute_ttl)
    return Expiry(min(now + timedelta(seconds=idle_ttl), family), family)
