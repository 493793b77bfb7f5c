"""Cutting access off: grants, refresh token families, access tokens, suspended apps.

Refresh tokens die at once (they are checked here); access tokens are self-contained JWTs, so
their revocation is published in the feed that resource servers poll (docs/security.md#22),
and pushed over a Redis stream and Server-Sent Events (docs/revocation-events.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from idp.services.ports import Record, UnitOfWork

FEED_PAGE = 1000
# A revocation event: the app's access tokens issued before the event's time are revoked.
CLIENT_CUTOFF = "client_cutoff"


@dataclass(frozen=True)
class RevocationWindow:
    """How long a revocation entry matters: until the longest-lived access token has expired."""

    max_access_ttl: int

    def until(self, now: datetime) -> datetime:
        return now + timedelta(seconds=self.max_access_ttl + 60)


def revoke_grant(uow: UnitOfWork, window: RevocationWindow, grant: Record, now: datetime) -> None:
    if grant.revoked_at is None:
        grant.revoked_at = now
    uow.refresh_tokens.revoke_for_grant(grant.id, now)
    uow.revocations.append("grant", grant.gid, window.until(now))


def revoke_family(uow: UnitOfWork, family_id: str, now: datetime) -> None:
    """A rotated refresh token came back: someone has a stolen copy. End the whole lineage."""
    uow.refresh_tokens.revoke_family(family_id, now)
    for record in uow.access_tokens.live_for_family(family_id, now):
        uow.revocations.append("token", record.jti, record.expires_at)


def revoke_access_token(uow: UnitOfWork, jti: str, expires_at: datetime) -> None:
    uow.revocations.append("token", jti, expires_at)


def suspend_client(uow: UnitOfWork, client: Record, reason: str, now: datetime) -> None:
    client.suspended_at = now
    client.suspended_reason = reason
    uow.refresh_tokens.revoke_for_client(client.id, now)
    uow.revocations.append("client_suspended", client.client_id, None)


def restore_client(
    uow: UnitOfWork, window: RevocationWindow, client: Record, now: datetime
) -> None:
    """The app works again, but what it was issued before stays revoked (issue 12 item 8).

    The cut-off is the restoration's time rather than the suspension's, so tokens a worker with
    a stale app cache issued just after the suspension stay dead too. It matters until every
    token issued before it has expired.
    """
    client.suspended_at = None
    client.suspended_reason = ""
    uow.revocations.append("client_restored", client.client_id, None)
    uow.revocations.append(CLIENT_CUTOFF, client.client_id, window.until(now))


def _ts(value: datetime | None) -> int | None:
    return int(value.timestamp()) if value else None


def feed(uow: UnitOfWork, since: int | None, now: datetime, poll_interval: int) -> dict[str, Any]:
    """A full snapshot (since=None) or the events after the cursor, in the documented shape."""
    body: dict[str, Any] = {
        "poll_interval": poll_interval,
        "revoked_tokens": [],
        "revoked_grants": [],
        "suspended_clients": [],
        "restored_clients": [],
        "client_cutoffs": [],
    }
    if since is None:
        # Read first: an event sequenced meanwhile is both in the snapshot and after stream_seq,
        # and applying it twice is harmless; the other order could lose it.
        body["stream_seq"] = uow.revocations.latest_seq()
        events = uow.revocations.in_force(now)
        cursor = uow.revocations.latest_id()
        suspended: dict[str, bool] = {}
        for event in events:
            if event.kind in ("client_suspended", "client_restored"):
                suspended[event.subject] = event.kind == "client_suspended"
            else:
                _add_entry(body, event)
        body["suspended_clients"] = sorted(c for c, s in suspended.items() if s)
        body.update(full=True, cursor=str(cursor))
        return body
    events = uow.revocations.since(since, FEED_PAGE)
    for event in events:
        if event.kind == "client_suspended":
            body["suspended_clients"].append(event.subject)
        elif event.kind == "client_restored":
            body["restored_clients"].append(event.subject)
        elif event.until is None or event.until > now:
            _add_entry(body, event)
    body.update(full=False, cursor=str(events[-1].id if events else since))
    if len(events) == FEED_PAGE:
        body["poll_interval"] = 0  # more to read: come back at once
    return body


def _add_entry(body: dict[str, Any], event: Any) -> None:
    if event.kind == "token":
        body["revoked_tokens"].append({"jti": event.subject, "exp": _ts(event.until)})
    elif event.kind == "grant":
        body["revoked_grants"].append({"gid": event.subject, "until": _ts(event.until)})
    elif event.kind == CLIENT_CUTOFF:
        body["client_cutoffs"].append(
            {
                "client_id": event.subject,
                "issued_before": _ts(event.created_at),  # tokens with an earlier iat are revoked
                "until": _ts(event.until),
            }
        )


EVENTS_VERSION = 1  # docs/revocation-events.md: bumped on any incompatible change


def event_document(event: Any) -> dict[str, Any]:
    """One published revocation event, as the Redis stream and the SSE stream carry it.

    `at` is the event's time: for a client_cutoff, tokens of the app with an earlier iat are
    revoked (the feed's `issued_before`).
    """
    return {
        "v": EVENTS_VERSION,
        "seq": event.seq,
        "id": event.id,
        "type": event.kind,
        "subject": event.subject,
        "until": _ts(event.until),
        "at": _ts(event.created_at),
    }


def utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)
