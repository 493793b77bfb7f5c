"""What an admin does to any app: find it, change its limits, vouch for it, suspend it.

Every change is written to the audit log with the admin's user id; suspension goes through
idp.services.clients, so the token endpoint refuses the app and the revocation feed lists it.
"""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import func, or_, select

from idp.domain.clock import utcnow
from idp.domain.scopes import ScopeCatalogue
from idp.extensions import db
from idp.services import audit, clients
from idp.services.context import Caller
from idp.storage.models import Client, User

MAX_RPS = 10_000.0
MAX_BURST = 100_000


class AdminError(ValueError):
    """A readable reason, shown next to the form field `field`."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def clean_text(value: object, limit: int) -> str:
    """A search or filter term: a string without control characters (PostgreSQL refuses NUL)."""
    if not isinstance(value, str):
        return ""
    return "".join(ch for ch in value if ch.isprintable()).strip()[:limit]


def search_apps(query: str = "", limit: int = 50, offset: int = 0) -> list[Client]:
    """Apps whose name, client_id or owner's username contains `query` (case-insensitive)."""
    stmt = select(Client).outerjoin(User, User.id == Client.owner_id)
    query = clean_text(query, 100)
    if query:
        like = f"%{query.lower()}%"
        stmt = stmt.where(
            or_(
                func.lower(Client.name).like(like),
                func.lower(Client.client_id).like(like),
                User.username_key.like(like),
            )
        )
    stmt = stmt.order_by(Client.created_at.desc(), Client.id.desc()).limit(limit).offset(offset)
    return list(db.session.scalars(stmt))


def by_client_id(client_id: str) -> Client | None:
    if not isinstance(client_id, str) or len(client_id) > 64:
        return None
    return db.session.scalar(select(Client).where(Client.client_id == client_id))


def parse_rps(text: str | None) -> float | None:
    """Blank means "the tier's rate"; otherwise a positive number of requests per second."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise AdminError(
            "Requests per second must be a number, such as 5 or 2.5.", "custom_rps"
        ) from None
    if not math.isfinite(value) or not 0 < value <= MAX_RPS:
        raise AdminError(
            f"Requests per second must be above 0 and at most {MAX_RPS:g}.", "custom_rps"
        )
    return value


def parse_burst(text: str | None) -> int | None:
    text = (text or "").strip()
    if not text:
        return None
    if not text.isdigit() or not 1 <= int(text) <= MAX_BURST:
        raise AdminError(f"Burst must be a whole number from 1 to {MAX_BURST}.", "custom_burst")
    return int(text)


def set_limits(
    uow: Any,
    catalogue: ScopeCatalogue,
    caller: Caller,
    admin_id: int,
    client: Client,
    *,
    tier: str,
    custom_rps: float | None,
    custom_burst: int | None,
) -> None:
    """The app's tier and optional per-app overrides (None: use the tier's own figure)."""
    if tier not in catalogue.tiers:
        raise AdminError(f"Choose one of the tiers: {', '.join(catalogue.tiers)}.", "tier")
    before = {"tier": client.tier, "rps": client.custom_rps, "burst": client.custom_burst}
    client.tier, client.custom_rps, client.custom_burst = tier, custom_rps, custom_burst
    client.updated_at = utcnow()
    audit.record(
        uow, "admin.client_limits_changed", caller, user_id=admin_id, client_id=client.client_id,
        before=before, after={"tier": tier, "rps": custom_rps, "burst": custom_burst},
    )  # fmt: skip
    uow.commit()


def set_verified(uow: Any, caller: Caller, admin_id: int, client: Client, verified: bool) -> None:
    """Verified apps get a badge on the consent screen instead of a warning."""
    client.verified = verified
    client.updated_at = utcnow()
    event = "admin.client_verified" if verified else "admin.client_unverified"
    audit.record(uow, event, caller, user_id=admin_id, client_id=client.client_id)
    uow.commit()


def suspend(uow: Any, caller: Caller, admin_id: int, client: Client, reason: str) -> None:
    reason = (reason or "").strip()
    if not 3 <= len(reason) <= 500:
        raise AdminError("Give a reason of 3 to 500 characters; the developer sees it.", "reason")
    if client.suspended_at is not None:
        raise AdminError("The app is already suspended.", "reason")
    clients.suspend(uow, caller, client, reason, user_id=admin_id)


def unsuspend(uow: Any, caller: Caller, admin_id: int, client: Client) -> None:
    if client.suspended_at is None:
        raise AdminError("The app is not suspended.", "reason")
    clients.unsuspend(uow, caller, client, user_id=admin_id)


def owner_of(client: Client) -> User | None:
    return db.session.get(User, client.owner_id) if client.owner_id else None


def clients_by_pk(pks: set[int]) -> dict[int, Client]:
    if not pks:
        return {}
    return {c.id: c for c in db.session.scalars(select(Client).where(Client.id.in_(pks)))}


def owners_of(apps: list[Client]) -> dict[int, str]:
    """Owner usernames keyed by user id, for listing many apps in one query."""
    ids = {c.owner_id for c in apps if c.owner_id}
    if not ids:
        return {}
    rows = db.session.execute(select(User.id, User.username).where(User.id.in_(ids)))
    return {row.id: row.username for row in rows}
