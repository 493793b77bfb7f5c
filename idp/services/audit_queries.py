"""The audit log viewer's filters and paging, on top of the audit log's query."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from idp.domain.request_text import ascii_int
from idp.services.app_admin import clean_text
from idp.services.ports import Record, UnitOfWork

PAGE_SIZE = 50
MAX_PAGE = 10_000
# Where an event names the account it acted on (the actor is the event's user_id).
TARGET_KEYS = ("target_user_id", "member_id")
# Details that hold an account id: shown as the account's name.
USER_KEYS = (*TARGET_KEYS, "invited_by", "requested_by", "decided_by")


@dataclass
class AuditFilters:
    event: str = ""
    user: str = ""
    target: str = ""
    app: str = ""
    since: str = ""
    until: str = ""
    page: int = 1
    errors: dict[str, str] = field(default_factory=dict)
    user_id: int | None = None
    target_id: int | None = None
    since_at: datetime | None = None
    until_at: datetime | None = None

    def as_query(self, **changes: Any) -> dict[str, Any]:
        """The filters as URL parameters (empty ones left out), for pagination links."""
        values = {"event": self.event, "user": self.user, "target": self.target, "app": self.app}
        values.update(since=self.since, until=self.until, page=self.page)
        values.update(changes)
        return {k: v for k, v in values.items() if v not in ("", None, 1)}


def _moment(text: str, end_of_day: bool) -> datetime:
    """A date (YYYY-MM-DD) or date and time (YYYY-MM-DDTHH:MM) in UTC."""
    value = datetime.fromisoformat(text)
    if end_of_day and len(text) == 10:
        value += timedelta(days=1)  # "until 2025-01-31" includes that whole day
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def parse_filters(uow: UnitOfWork, args: Any) -> AuditFilters:
    """Read the filters from query parameters; a bad one gets a readable message, not a 500."""

    def arg(name: str, limit: int) -> str:
        return clean_text(args.get(name, ""), limit)

    f = AuditFilters(
        event=arg("event", 64),
        user=arg("user", 32),
        target=arg("target", 32),
        app=arg("app", 64),
        since=arg("since", 32),
        until=arg("until", 32),
    )
    page = arg("page", 6) or "1"
    number = ascii_int(page)
    if number is None or not 1 <= number <= MAX_PAGE:
        f.errors["page"] = "The page must be a whole number from 1."
    else:
        f.page = number
    if f.user:
        found = uow.directory.user_id_by_username(f.user)
        if found is None:
            f.errors["user"] = f"No account has the username {f.user!r}."
        f.user_id = found
    if f.target:
        found = uow.directory.user_id_by_username(f.target)
        if found is None:
            f.errors["target"] = f"No account has the username {f.target!r}."
        f.target_id = found
    for name, end in (("since", False), ("until", True)):
        text = getattr(f, name)
        if not text:
            continue
        try:
            setattr(f, f"{name}_at", _moment(text, end))
        except ValueError:
            f.errors[name] = "Use a date such as 2025-01-31, or a date and time (UTC)."
    if f.since_at and f.until_at and f.since_at >= f.until_at:
        f.errors["until"] = "The end of the range must come after its start."
    return f


def _query(uow: UnitOfWork, f: AuditFilters, limit: int, offset: int) -> list[Record]:
    return list(
        uow.audit.query(
            event=f.event or None,
            user_id=f.user_id,
            client_id=f.app or None,
            since=f.since_at,
            until=f.until_at,
            target_user_id=f.target_id,
            target_keys=TARGET_KEYS,
            limit=limit,
            offset=offset,
        )
    )


def page_of_events(uow: UnitOfWork, f: AuditFilters) -> tuple[list[Record], bool]:
    """One page of matching events, newest first, and whether there is a next page."""
    if f.errors:
        return [], False
    rows = _query(uow, f, PAGE_SIZE + 1, (f.page - 1) * PAGE_SIZE)
    return rows[:PAGE_SIZE], len(rows) > PAGE_SIZE


def events_for_export(uow: UnitOfWork, f: AuditFilters, limit: int) -> list[Record]:
    """Every matching event (newest first, at most `limit`), whatever the page."""
    return [] if f.errors else _query(uow, f, limit, 0)


def people_in(events: list[Record]) -> set[int]:
    """Every account an event names: its actor and the accounts in its details."""
    ids = {e.user_id for e in events if e.user_id}
    for e in events:
        for key in USER_KEYS:
            value = (e.data or {}).get(key)
            if isinstance(value, int) and not isinstance(value, bool):
                ids.add(value)
    return ids


def known_events(uow: UnitOfWork) -> list[str]:
    """Every event name in the log, for the filter's drop-down."""
    return uow.directory.event_names()


def usernames(uow: UnitOfWork, user_ids: set[int]) -> dict[int, str]:
    return uow.directory.usernames(user_ids)


def recent_for_user(uow: UnitOfWork, user_id: int, limit: int = 20) -> list[Record]:
    """What an account did and what was done to it, newest first."""
    own = uow.audit.query(user_id=user_id, limit=limit)
    done_to = uow.audit.query(target_user_id=user_id, target_keys=TARGET_KEYS, limit=limit)
    merged = {e.id: e for e in [*own, *done_to]}.values()
    return sorted(merged, key=lambda e: (e.at, e.id), reverse=True)[:limit]


def recent_for_app(uow: UnitOfWork, client_id: str, limit: int = 20) -> list[Record]:
    return list(uow.audit.query(client_id=client_id, limit=limit))
