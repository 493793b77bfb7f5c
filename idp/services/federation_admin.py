"""An admin's marks on an app: first-party (consent implied) and token exchange (RFC 8693).

First-party is for the operator's own apps (the marketplace's site, mobile app, Discord bot):
their users are not asked for consent; the grant is recorded as implied and still listed under
/account/apps, where the user can revoke it. Token exchange needs first-party: removing the
first-party mark removes token exchange too. Both changes are audited.
"""

from __future__ import annotations

from idp.domain.clock import utcnow
from idp.errors import FieldErrors
from idp.services import audit
from idp.services.context import Caller
from idp.services.ports import Record, UnitOfWork


def set_first_party(
    uow: UnitOfWork, caller: Caller, admin_id: int, client: Record, first_party: bool
) -> None:
    client.first_party = first_party
    if not first_party:
        client.token_exchange = False
    client.updated_at = utcnow()
    event = "admin.client_first_party" if first_party else "admin.client_third_party"
    audit.record(uow, event, caller, user_id=admin_id, client_id=client.client_id)
    uow.commit()


def set_token_exchange(
    uow: UnitOfWork, caller: Caller, admin_id: int, client: Record, allowed: bool
) -> None:
    if allowed and not client.first_party:
        raise FieldErrors("Only a first-party app may use token exchange: mark it first-party.")
    client.token_exchange = allowed
    client.updated_at = utcnow()
    event = "admin.token_exchange_allowed" if allowed else "admin.token_exchange_removed"
    audit.record(uow, event, caller, user_id=admin_id, client_id=client.client_id)
    uow.commit()
