"""Requests for restricted scopes or a higher tier: a developer asks, an admin decides.

Every decision is in the audit log; an approval changes the app's access rights at once.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from idp.domain.clock import utcnow
from idp.domain.scopes import ScopeCatalogue
from idp.extensions import db
from idp.services import audit
from idp.services.context import Caller
from idp.storage.models import AccessRequest, Client

PENDING, APPROVED, DENIED = "pending", "approved", "denied"


class AccessRequestError(ValueError):
    """A readable reason, safe to show next to the form field `field`."""

    def __init__(self, message: str, field: str = "scopes") -> None:
        super().__init__(message)
        self.field = field


def _justification(text: str) -> str:
    text = (text or "").strip()
    if not 10 <= len(text) <= 2000:
        raise AccessRequestError(
            "Explain in 10 to 2000 characters why the app needs this.", "justification"
        )
    return text


def _file(
    uow: Any,
    caller: Caller,
    client: Client,
    user_id: int,
    justification: str,
    *,
    kind: str,
    **wanted: Any,
) -> AccessRequest:
    """Store a pending request and audit it; `wanted` is scopes=[...] or tier=..."""
    row = AccessRequest(
        client_pk=client.id,
        kind=kind,
        justification=_justification(justification),
        requested_by=user_id,
        **wanted,
    )
    db.session.add(row)
    audit.record(
        uow, "access_request.created", caller, user_id=user_id, client_id=client.client_id, **wanted
    )
    uow.commit()
    return row


def request_scopes(
    uow: Any,
    catalogue: ScopeCatalogue,
    caller: Caller,
    client: Client,
    user_id: int,
    scopes: list[str],
    justification: str,
) -> AccessRequest:
    wanted = list(dict.fromkeys(s for s in scopes if s))
    unknown = catalogue.unknown(wanted)
    if unknown:
        raise AccessRequestError(f"Unknown scope(s): {', '.join(unknown)}.")
    wanted = [s for s in wanted if s not in (client.allowed_scopes or [])]
    if not wanted:
        raise AccessRequestError("The app already has every scope requested.")
    if any(
        r.kind == "scopes" and set(wanted) <= set(r.scopes) for r in pending_for_client(client.id)
    ):
        raise AccessRequestError("These scopes are already waiting for an admin's decision.")
    return _file(uow, caller, client, user_id, justification, kind="scopes", scopes=wanted)


def request_tier(
    uow: Any,
    catalogue: ScopeCatalogue,
    caller: Caller,
    client: Client,
    user_id: int,
    tier: str,
    justification: str,
) -> AccessRequest:
    if tier not in catalogue.tiers:
        raise AccessRequestError(f"Unknown tier {tier!r}.", "tier")
    if tier == client.tier:
        raise AccessRequestError("The app is already on this tier.", "tier")
    if any(r.kind == "tier" for r in pending_for_client(client.id)):
        raise AccessRequestError(
            "A tier request is already waiting for an admin's decision.", "tier"
        )
    return _file(uow, caller, client, user_id, justification, kind="tier", tier=tier)


def pending_for_client(client_pk: int) -> list[AccessRequest]:
    return list(
        db.session.scalars(
            select(AccessRequest).where(
                AccessRequest.client_pk == client_pk, AccessRequest.status == PENDING
            )
        )
    )


def for_client(client_pk: int) -> list[AccessRequest]:
    return list(
        db.session.scalars(
            select(AccessRequest)
            .where(AccessRequest.client_pk == client_pk)
            .order_by(AccessRequest.created_at.desc())
        )
    )


def queue(status: str = PENDING, limit: int = 100, offset: int = 0) -> list[AccessRequest]:
    return list(
        db.session.scalars(
            select(AccessRequest)
            .where(AccessRequest.status == status)
            .order_by(AccessRequest.created_at)
            .limit(limit)
            .offset(offset)
        )
    )


def _decide(
    uow: Any, caller: Caller, admin_id: int, request_id: int, status: str, reason: str
) -> AccessRequest:
    row = db.session.get(AccessRequest, request_id)
    if row is None:
        raise AccessRequestError("No such request.", "request")
    if row.status != PENDING:
        raise AccessRequestError(f"This request was already {row.status}.", "request")
    reason = (reason or "").strip()
    if status == DENIED and not reason:
        raise AccessRequestError("Give the developer a reason for the denial.", "reason")
    row.status, row.decided_by, row.decided_at, row.reason = (
        status,
        admin_id,
        utcnow(),
        reason[:2000],
    )
    client = db.session.get(Client, row.client_pk)
    if status == APPROVED and client is not None:
        if row.kind == "scopes":
            client.allowed_scopes = list(
                dict.fromkeys([*(client.allowed_scopes or []), *row.scopes])
            )
        else:
            client.tier = row.tier
        client.updated_at = utcnow()
    audit.record(
        uow, f"access_request.{status}", caller, user_id=admin_id,
        client_id=client.client_id if client else None, request_id=row.id, kind=row.kind,
        scopes=row.scopes, tier=row.tier, reason=row.reason,
    )  # fmt: skip
    uow.commit()
    return row


def approve(
    uow: Any, caller: Caller, admin_id: int, request_id: int, reason: str = ""
) -> AccessRequest:
    return _decide(uow, caller, admin_id, request_id, APPROVED, reason)


def deny(uow: Any, caller: Caller, admin_id: int, request_id: int, reason: str) -> AccessRequest:
    return _decide(uow, caller, admin_id, request_id, DENIED, reason)
