"""Consent: remembered per user and app, asked again only for scopes not yet granted."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import TypeVar

from idp.domain.clients import ClientPolicy
from idp.domain.clock import utcnow
from idp.services import audit
from idp.services.context import Caller
from idp.services.ports import Record, UnitOfWork


def granted_scopes(uow: UnitOfWork, user_id: int, client_pk: int) -> tuple[Record | None, set[str]]:
    grant = uow.grants.active(user_id, client_pk)
    return grant, set(grant.scopes.split()) if grant else set()


def record_consent(
    uow: UnitOfWork,
    caller: Caller,
    user: Record,
    client: ClientPolicy,
    scopes: tuple[str, ...],
    implied: bool = False,
) -> Record:
    """The user's active grant for this app, created or widened to include `scopes`.

    `implied`: a first-party app's grant, never asked (docs/federation.md); audited as such.
    """
    now = utcnow()
    grant = uow.grants.active(user.id, client.pk)
    if grant is None:
        grant = uow.grants.create(
            gid=secrets.token_hex(16), user_id=user.id, client_pk=client.pk,
            scopes=" ".join(scopes), implied=implied,
        )  # fmt: skip
        audit.record(
            uow,
            "consent.implied" if implied else "consent.granted",
            caller,
            user_id=user.id,
            client_id=client.client_id,
            scopes=list(scopes),
        )
        return grant
    have = grant.scopes.split()
    added = [s for s in scopes if s not in have]
    if added:
        grant.scopes = " ".join([*have, *added])
        grant.updated_at = now
        audit.record(
            uow,
            "consent.implied" if implied else "consent.widened",
            caller,
            user_id=user.id,
            client_id=client.client_id,
            scopes=added,
        )
    return grant


T = TypeVar("T")


def approve(
    uow: UnitOfWork,
    caller: Caller,
    user: Record,
    client: ClientPolicy,
    scopes: tuple[str, ...],
    issue: Callable[[Record], T],
    implied: bool = False,
) -> T:
    """Consent given, now or before: the grant is recorded or widened and `issue` (the protocol
    layer's code issuance) runs on it, in one transaction: no code is stored without the consent it rests on."""
    with uow:
        grant = record_consent(uow, caller, user, client, scopes, implied)
        issued = issue(grant)
        uow.commit()
    return issued


def note_denial(
    uow: UnitOfWork, caller: Caller, user: Record, client: ClientPolicy, scopes: tuple[str, ...]
) -> None:
    """Audit a refusal inside the caller's transaction (the device flow's deny commits it)."""
    audit.record(
        uow,
        "consent.denied",
        caller,
        user_id=user.id,
        client_id=client.client_id,
        scopes=list(scopes),
    )


def record_denial(
    uow: UnitOfWork, caller: Caller, user: Record, client: ClientPolicy, scopes: tuple[str, ...]
) -> None:
    """The user pressed Deny on the consent page: audited and committed."""
    note_denial(uow, caller, user, client, scopes)
    uow.commit()
