"""Who works on an app besides its owner: an owner invites, the invitee accepts or declines.

Nobody becomes a member without saying yes, and the owner's answer to an invitation is the same
whether or not the username exists, so the members form cannot be used to list accounts.
"""

from __future__ import annotations

from dataclasses import dataclass

from idp.errors import FieldErrors
from idp.services import audit
from idp.services.apps import OWNER, ROLES, MyApp
from idp.services.context import Caller
from idp.services.ports import Record, UnitOfWork

# The members form has one field for the person; every refusal is shown there.
FIELD = "username"
INVITED = (
    "If an account with this username exists, it is invited. The person sees the invitation "
    "on their Apps page and becomes a member once they accept it."
)
NO_SUCH_INVITATION = "There is no such invitation."


@dataclass(frozen=True)
class Invitation:
    """What the invitee is shown: which app, which role, who asked."""

    id: int
    app_name: str
    client_id: str
    role: str
    invited_by: str | None


def _owners_only(found: MyApp) -> None:
    if not found.is_owner:
        raise FieldErrors("Only an owner of the app can change its members.", FIELD)


def members(uow: UnitOfWork, client: Record) -> list[tuple[Record, str]]:
    """The owner first, then the members by username."""
    found = uow.members.of_client(client.id)
    owner = uow.users.get(client.owner_id) if client.owner_id else None
    return ([(owner, OWNER)] if owner else []) + [(u, r) for u, r in found if u is not owner]


def _invitee(uow: UnitOfWork, client: Record, username: str) -> Record | None:
    """The account to invite, or None when there is none to invite (told to nobody)."""
    user = uow.users.by_login(username)
    if user is None or user.disabled_at is not None:
        return None
    if user.id == client.owner_id or uow.members.role(client.id, user.id) is not None:
        return None  # already on the app: the members list shows it
    if uow.invitations.pending(client.id, user.id) is not None:
        return None
    return user


def invite(
    uow: UnitOfWork, caller: Caller, found: MyApp, actor_id: int, username: str, role: str
) -> str:
    """Invite `username` as `role`; the answer (INVITED) is the same whatever happened."""
    _owners_only(found)
    client, username = found.client, (username or "").strip()
    if role not in ROLES:
        raise FieldErrors(f"Choose a role: {', '.join(ROLES)}.", FIELD)
    if not username or "@" in username:
        raise FieldErrors("Enter the person's username (not an email address).", FIELD)
    user = _invitee(uow, client, username)
    if user is not None:
        uow.invitations.create(client_pk=client.id, user_id=user.id, role=role, invited_by=actor_id)
    audit.record(
        uow, "client.member_invited", caller, user_id=actor_id, client_id=client.client_id,
        member=username[:64], role=role, invited=user is not None,
    )  # fmt: skip
    uow.commit()
    return INVITED


def invitations_for(uow: UnitOfWork, user_id: int) -> list[Invitation]:
    return [
        Invitation(row.id, client.name, client.client_id, row.role, inviter)
        for row, client, inviter in uow.invitations.for_user(user_id)
    ]


def _own_invitation(uow: UnitOfWork, user_id: int, invitation_id: int) -> Record:
    row = uow.invitations.get(invitation_id)
    if row is None or row.user_id != user_id:
        raise FieldErrors(NO_SUCH_INVITATION, "invitation")
    return row


def answer(
    uow: UnitOfWork, caller: Caller, user_id: int, invitation_id: int, *, accept: bool
) -> Record:
    """The invitee's answer; only theirs counts. Returns the app."""
    row = _own_invitation(uow, user_id, invitation_id)
    client = uow.clients.get(row.client_pk)
    joins = accept and client is not None and uow.members.role(client.id, user_id) is None
    if joins and client.owner_id != user_id:
        uow.members.create(client_pk=client.id, user_id=user_id, role=row.role)
    uow.invitations.delete(row)
    audit.record(
        uow, f"client.invitation_{'accepted' if accept else 'declined'}", caller,
        user_id=user_id, client_id=client.client_id if client else None, role=row.role,
        invited_by=row.invited_by,
    )  # fmt: skip
    uow.commit()
    return client


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
