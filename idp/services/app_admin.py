"""What an admin does to any app: find it, change its limits, vouch for it, suspend it.

Every change is written to the audit log with the admin's user id; suspension goes through
idp.services.apps, so the token endpoint refuses the app and the revocation feed lists it.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from idp.domain.clients import APP_TYPES
from idp.domain.clock import utcnow
from idp.domain.rate_limits import EffectiveLimits, effective_limits
from idp.domain.request_text import ascii_int
from idp.domain.scopes import ScopeCatalogue
from idp.errors import FieldErrors
from idp.services import apps, audit, revocation
from idp.services.context import Caller
from idp.services.ports import Record, UnitOfWork

MAX_RPS = 10_000.0
MAX_BURST = 100_000


def clean_text(value: object, limit: int) -> str:
    """A search or filter term: a string without control characters (PostgreSQL refuses NUL)."""
    if not isinstance(value, str):
        return ""
    return "".join(ch for ch in value if ch.isprintable()).strip()[:limit]


def search_apps(uow: UnitOfWork, query: str = "", limit: int = 50, offset: int = 0) -> list:
    """Apps whose name, client_id or owner's username contains `query` (case-insensitive)."""
    return list(uow.clients.search(clean_text(query, 100), limit=limit, offset=offset))


def by_client_id(uow: UnitOfWork, client_id: str) -> Record | None:
    if not isinstance(client_id, str) or len(client_id) > 64:
        return None
    return uow.clients.by_client_id(client_id)


def limits_of(catalogue: ScopeCatalogue, client: Record) -> EffectiveLimits:
    return effective_limits(client, catalogue.tier(client.tier))


def parse_rps(text: str | None) -> float | None:
    """Blank means "the tier's rate"; otherwise a positive number of requests per second."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise FieldErrors(
            "Requests per second must be a number, such as 5 or 2.5.", "custom_rps"
        ) from None
    if not math.isfinite(value) or not 0 < value <= MAX_RPS:
        raise FieldErrors(
            f"Requests per second must be above 0 and at most {MAX_RPS:g}.", "custom_rps"
        )
    return value


def parse_burst(text: str | None) -> int | None:
    text = (text or "").strip()
    if not text:
        return None
    burst = ascii_int(text)
    if burst is None or not 1 <= burst <= MAX_BURST:
        raise FieldErrors(f"Burst must be a whole number from 1 to {MAX_BURST}.", "custom_burst")
    return burst


def set_limits(
    uow: UnitOfWork,
    catalogue: ScopeCatalogue,
    caller: Caller,
    admin_id: int,
    client: Record,
    *,
    tier: str,
    custom_rps: str | None,
    custom_burst: str | None,
) -> None:
    """The app's tier and optional per-app overrides as typed (blank: the tier's own figure)."""
    rps, burst = parse_rps(custom_rps), parse_burst(custom_burst)
    if tier not in catalogue.tiers:
        raise FieldErrors(f"Choose one of the tiers: {', '.join(catalogue.tiers)}.", "tier")
    before = {"tier": client.tier, "rps": client.custom_rps, "burst": client.custom_burst}
    client.tier, client.custom_rps, client.custom_burst = tier, rps, burst
    client.updated_at = utcnow()
    audit.record(
        uow, "admin.client_limits_changed", caller, user_id=admin_id, client_id=client.client_id,
        before=before, after={"tier": tier, "rps": rps, "burst": burst},
    )  # fmt: skip
    uow.commit()


def set_verified(
    uow: UnitOfWork, caller: Caller, admin_id: int, client: Record, verified: bool
) -> None:
    """Verified apps get a badge on the consent screen instead of a warning."""
    client.verified = verified
    client.updated_at = utcnow()
    event = "admin.client_verified" if verified else "admin.client_unverified"
    audit.record(uow, event, caller, user_id=admin_id, client_id=client.client_id)
    uow.commit()


def suspend(uow: UnitOfWork, caller: Caller, admin_id: int, client: Record, reason: str) -> None:
    reason = (reason or "").strip()
    if not 3 <= len(reason) <= 500:
        raise FieldErrors("Give a reason of 3 to 500 characters; the developer sees it.", "reason")
    if client.suspended_at is not None:
        raise FieldErrors("The app is already suspended.", "reason")
    apps.suspend(uow, caller, client, reason, user_id=admin_id)


def unsuspend(
    uow: UnitOfWork,
    caller: Caller,
    admin_id: int,
    client: Record,
    window: revocation.RevocationWindow,
) -> None:
    if client.suspended_at is None:
        raise FieldErrors("The app is not suspended.", "reason")
    apps.unsuspend(uow, caller, client, window, user_id=admin_id)


def owner_of(uow: UnitOfWork, client: Record) -> Record | None:
    return uow.users.get(client.owner_id) if client.owner_id else None


def owners_of(uow: UnitOfWork, found: list) -> dict[int, str]:
    """Owner usernames keyed by user id, for listing many apps in one query."""
    return uow.directory.usernames({c.owner_id for c in found if c.owner_id})


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def registration(uow: UnitOfWork, client: Record) -> dict[str, Any]:
    """What an operator may see of an app: never a secret digest."""
    owner = owner_of(uow, client)
    return {
        "client_id": client.client_id,
        "name": client.name,
        "app_type": client.app_type,
        "confidential": APP_TYPES[client.app_type].confidential,
        "redirect_uris": list(client.redirect_uris or []),
        "post_logout_redirect_uris": list(client.post_logout_redirect_uris or []),
        "grant_types": list(client.grant_types or []),
        "scopes": list(client.allowed_scopes or []),
        "tier": client.tier,
        "require_pkce": client.require_pkce,
        "access_token_ttl": client.access_token_ttl,
        "refresh_token_ttl": client.refresh_token_ttl,
        "owner": owner.username if owner else None,
        "description": client.description,
        "homepage_url": client.homepage_url,
        "suspended": client.suspended_at is not None,
        "suspended_at": _iso(client.suspended_at),
        "suspended_reason": client.suspended_reason or None,
        "created_at": _iso(client.created_at),
        "secrets": [
            {"created_at": _iso(s.created_at), "expires_at": _iso(s.expires_at)}
            for s in sorted(client.secrets, key=lambda s: (s.created_at, s.id or 0))
        ],
    }
