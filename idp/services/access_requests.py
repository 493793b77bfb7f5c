"""Requests for restricted scopes or a higher tier: a developer asks, an admin decides.

Every decision is in the audit log; an approval changes the app's access rights at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from idp.domain.clock import utcnow
from idp.domain.scopes import ScopeCatalogue
from idp.errors import FieldErrors
from idp.services import audit
from idp.services.app_specs import scope_problems
from idp.services.context import Caller
from idp.services.ports import Record, UnitOfWork

PENDING, APPROVED, DENIED = "pending", "approved", "denied"
NO_SUCH_REQUEST = "No such request."


def justification(text: str) -> str:
    text = (text or "").strip()
    if not 10 <= len(text) <= 2000:
        raise FieldErrors(
            "Explain in 10 to 2000 characters why the app needs this.", "justification"
        )
    return text


def wanted_scopes(
    catalogue: ScopeCatalogue,
    app_type: str,
    held: list[str],
    pending: Sequence[Record],
    scopes: list[str],
) -> list[str]:
    """The restricted scopes worth asking for, or FieldErrors on "scopes".

    What may be asked for is what the app may hold: the rule of app creation (app_specs).
    """
    wanted = list(dict.fromkeys(s for s in scopes if s))
    problems = scope_problems(app_type, wanted, catalogue, allow_restricted=True)
    if problems:
        raise FieldErrors({"scopes": problems})
    wanted = [s for s in wanted if s not in held]
    if not wanted:
        raise FieldErrors("The app already has every scope requested.", "scopes")
    waiting = pending_scopes(pending)
    if set(wanted) <= waiting:
        raise FieldErrors("These scopes are already waiting for an admin's decision.", "scopes")
    return [s for s in wanted if s not in waiting]


def pending_scopes(pending: Sequence[Record]) -> set[str]:
    """Scopes some pending request already asks for: the form does not offer them again."""
    return {s for r in pending if r.kind == "scopes" for s in r.scopes}


def higher_tiers(catalogue: ScopeCatalogue, current: str) -> list[str]:
    """The tiers worth asking for: those above the current one (more requests per second, or
    as many with a larger burst), lowest first."""
    now = catalogue.tiers.get(current)
    floor = (now.rps, now.burst) if now else (-1.0, -1)
    above = [t for t in catalogue.tiers.values() if (t.rps, t.burst) > floor]
    return [t.name for t in sorted(above, key=lambda t: (t.rps, t.burst))]


def tier_pending(pending: Sequence[Record]) -> bool:
    return any(r.kind == "tier" for r in pending)


def file(
    uow: UnitOfWork, caller: Caller, client: Record, user_id: int, why: str, *, kind: str,
    **wanted: Any,
) -> Record:  # fmt: skip
    """Store a checked pending request and audit it; `wanted` is scopes=[...] or tier=...

    The caller commits: filing is also a step of creating an app.
    """
    row = uow.access_requests.create(
        client_pk=client.id, kind=kind, justification=why, requested_by=user_id, **wanted
    )
    audit.record(
        uow, "access_request.created", caller, user_id=user_id, client_id=client.client_id, **wanted
    )
    return row


def request_scopes(
    uow: UnitOfWork,
    catalogue: ScopeCatalogue,
    caller: Caller,
    client: Record,
    user_id: int,
    scopes: list[str],
    why: str,
) -> Record:
    pending = uow.access_requests.pending_for_client(client.id)
    held = list(client.allowed_scopes or [])
    wanted = wanted_scopes(catalogue, client.app_type, held, pending, scopes)
    row = file(uow, caller, client, user_id, justification(why), kind="scopes", scopes=wanted)
    uow.commit()
    return row


def request_tier(
    uow: UnitOfWork,
    catalogue: ScopeCatalogue,
    caller: Caller,
    client: Record,
    user_id: int,
    tier: str,
    why: str,
) -> Record:
    if tier not in catalogue.tiers:
        raise FieldErrors(f"Unknown tier {tier!r}.", "tier")
    if tier == client.tier:
        raise FieldErrors("The app is already on this tier.", "tier")
    if tier not in higher_tiers(catalogue, client.tier):
        raise FieldErrors("Ask for a tier above the app's current one.", "tier")
    if tier_pending(uow.access_requests.pending_for_client(client.id)):
        raise FieldErrors("A tier request is already waiting for an admin's decision.", "tier")
    why = justification(why)
    row = file(uow, caller, client, user_id, why, kind="tier", tier=tier, from_tier=client.tier)
    uow.commit()
    return row


def pending_for(uow: UnitOfWork, client_pk: int) -> list[Record]:
    return list(uow.access_requests.pending_for_client(client_pk))


def for_client(uow: UnitOfWork, client_pk: int) -> list[Record]:
    return list(uow.access_requests.for_client(client_pk))


def queue(
    uow: UnitOfWork, status: str = PENDING, limit: int = 100, offset: int = 0
) -> list[Record]:
    return list(uow.access_requests.with_status(status, limit=limit, offset=offset))


def _grant(catalogue: ScopeCatalogue, client: Record, row: Record) -> None:
    if row.kind == "scopes":
        # A request filed before a rule changed is checked again: approval grants nothing the
        # app could not be created with.
        problems = scope_problems(
            client.app_type, list(row.scopes), catalogue, allow_restricted=True
        )
        if problems:
            raise FieldErrors({"request": problems})
        client.allowed_scopes = list(dict.fromkeys([*(client.allowed_scopes or []), *row.scopes]))
    else:
        row.from_tier = client.tier  # what the approval really changed, whatever was filed
        client.tier = row.tier
    client.updated_at = utcnow()


def _decide(
    uow: UnitOfWork,
    caller: Caller,
    admin_id: int,
    request_id: int,
    status: str,
    reason: str,
    catalogue: ScopeCatalogue | None = None,
) -> Record:
    row = uow.access_requests.get(request_id)
    if row is None:
        raise FieldErrors(NO_SUCH_REQUEST, "request")
    if row.status != PENDING:
        raise FieldErrors(f"This request was already {row.status}.", "request")
    reason = (reason or "").strip()
    if status == DENIED and not reason:
        raise FieldErrors("Give the developer a reason for the denial.", "reason")
    row.status, row.decided_by, row.decided_at = status, admin_id, utcnow()
    row.reason = reason[:2000]
    client = uow.clients.get(row.client_pk)
    if status == APPROVED and client is not None:
        _grant(catalogue, client, row)
    audit.record(
        uow, f"access_request.{status}", caller, user_id=admin_id,
        client_id=client.client_id if client else None, request_id=row.id, kind=row.kind,
        scopes=row.scopes, tier=row.tier, reason=row.reason,
    )  # fmt: skip
    uow.commit()
    return row


def approve(
    uow: UnitOfWork,
    caller: Caller,
    admin_id: int,
    request_id: int,
    reason: str = "",
    *,
    catalogue: ScopeCatalogue,
) -> Record:
    return _decide(uow, caller, admin_id, request_id, APPROVED, reason, catalogue)


def deny(uow: UnitOfWork, caller: Caller, admin_id: int, request_id: int, reason: str) -> Record:
    return _decide(uow, caller, admin_id, request_id, DENIED, reason)


WITHDRAWN = "withdrawn"


def withdraw(
    uow: UnitOfWork, caller: Caller, client: Record, user_id: int, request_id: int
) -> Record:
    """A developer of the app takes back one of its pending requests; it stays in the history,
    marked withdrawn, and leaves the admins' queue."""
    row = uow.access_requests.get(request_id)
    if row is None or row.client_pk != client.id:
        raise FieldErrors(NO_SUCH_REQUEST, "request")
    if row.status != PENDING:
        raise FieldErrors(f"This request was already {row.status}.", "request")
    row.status, row.decided_by, row.decided_at = WITHDRAWN, user_id, utcnow()
    audit.record(
        uow, "access_request.withdrawn", caller, user_id=user_id, client_id=client.client_id,
        request_id=row.id, kind=row.kind,
    )  # fmt: skip
    uow.commit()
    return row
