"""Who works on an app besides its owner; only an owner changes that."""

from __future__ import annotations

from idp.errors import FieldErrors
from idp.services import audit
from idp.services.apps import OWNER, ROLES, MyApp
from idp.services.context import Caller
from idp.services.ports import Record, UnitOfWork

# The members form has one field for the person; every refusal is shown there.
FIELD = "username"


def _owners_only(found: MyApp) -> None:
    if not found.is_owner:
        raise FieldErrors("Only an owner of the app can change its members.", FIELD)


def members(uow: UnitOfWork, client: Record) -> list[tuple[Record, str]]:
    """The owner first, then the members by username."""
    found = uow.members.of_client(client.id)
    owner = uow.users.get(client.owner_id) if client.owner_id else None
    return ([(owner, OWNER)] if owner else []) + [(u, r) for u, r in found if u is not owner]


def add_member(
    uow: UnitOfWork, caller: Caller, found: MyApp, actor_id: int, username: str, role: str
) -> Record:
    _owners_only(found)
    client = found.client
    if role not in ROLES:
        raise FieldErrors(f"Choose a role: {', '.join(ROLES)}.", FIELD)
    user = uow.users.by_login((username or "").strip())
    if user is None or user.disabled_at is not None or "@" in (username or ""):
        raise FieldErrors("There is no account with this username.", FIELD)
    if user.id == client.owner_id or uow.members.role(client.id, user.id) is not None:
        raise FieldErrors(f"{user.username} is already a member of this app.", FIELD)
    uow.members.create(client_pk=client.id, user_id=user.id, role=role)
    audit.record(
        uow, "client.member_added", caller, user_id=actor_id, client_id=client.client_id,
        member=user.username, role=role,
    )  # fmt: skip
    uow.commit()
    return user


def remove_member(
    uow: UnitOfWork, caller: Caller, found: MyApp, actor_id: int, user_id: int
) -> None:
    _owners_only(found)
    client = found.client
    if not uow.members.remove(client.id, user_id):
        raise FieldErrors("This person is not a member of the app.", FIELD)
    audit.record(
        uow, "client.member_removed", caller, user_id=actor_id, client_id=client.client_id,
        member_id=user_id,
    )  # fmt: skip
    uow.commit()
