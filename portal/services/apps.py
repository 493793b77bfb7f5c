"""A developer's own apps: every lookup is scoped to the apps the user owns or is a member of.

The portal and the management API both go through `app_for_user`, so another developer's
client_id is indistinguishable from one that does not exist (404, never 403).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists, or_, select

from idp.domain.clock import utcnow
from idp.domain.scopes import ScopeCatalogue
from idp.extensions import db
from idp.services import audit
from idp.services.clients import ClientError, ClientSpec, validate_spec
from idp.services.context import Caller
from idp.storage.models import Client, ClientMember, User

OWNER, DEVELOPER = "owner", "developer"
ROLES = (OWNER, DEVELOPER)
EDITABLE = (
    "name",
    "description",
    "homepage_url",
    "privacy_url",
    "tos_url",
    "redirect_uris",
    "post_logout_redirect_uris",
    "scopes",
)


@dataclass(frozen=True)
class MyApp:
    """An app as one developer sees it: the row and the developer's role on it."""

    client: Client
    role: str

    @property
    def is_owner(self) -> bool:
        return self.role == OWNER


def _visible_to(user_id: int):
    member = exists().where(ClientMember.client_pk == Client.id, ClientMember.user_id == user_id)
    return or_(Client.owner_id == user_id, member)


def apps_for_user(user_id: int) -> list[MyApp]:
    rows = db.session.scalars(
        select(Client).where(_visible_to(user_id)).order_by(Client.created_at, Client.id)
    )
    return [MyApp(c, _role(c, user_id)) for c in rows]


def app_for_user(user_id: int, client_id: str) -> MyApp | None:
    if not isinstance(client_id, str) or len(client_id) > 64:
        return None
    client = db.session.scalar(
        select(Client).where(Client.client_id == client_id, _visible_to(user_id))
    )
    return MyApp(client, _role(client, user_id)) if client is not None else None


def _role(client: Client, user_id: int) -> str:
    if client.owner_id == user_id:
        return OWNER
    role = db.session.scalar(
        select(ClientMember.role).where(
            ClientMember.client_pk == client.id, ClientMember.user_id == user_id
        )
    )
    return role or DEVELOPER


def update_app(
    uow: Any, catalogue: ScopeCatalogue, caller: Caller, client: Client, user_id: int, **changes
) -> Client:
    """Change an app's details, redirect URIs or scopes; nothing is saved when any field fails.

    Restricted scopes the app already holds may stay; new ones need an access request.
    The app type is fixed at creation (it decides confidentiality and the grant types).
    """
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise ClientError({k: ["This field cannot be changed."] for k in unknown})
    current = {
        "name": client.name,
        "description": client.description,
        "homepage_url": client.homepage_url,
        "privacy_url": client.privacy_url,
        "tos_url": client.tos_url,
        "redirect_uris": list(client.redirect_uris or []),
        "post_logout_redirect_uris": list(client.post_logout_redirect_uris or []),
        "scopes": list(client.allowed_scopes or []),
    }
    merged = {**current, **changes}
    spec = ClientSpec(app_type=client.app_type, **merged)
    new_restricted = [
        s for s in catalogue.restricted(spec.scopes) if s not in (client.allowed_scopes or [])
    ]
    try:
        validate_spec(spec, catalogue, allow_restricted=True)
    except ClientError as exc:
        errors = exc.errors
    else:
        errors = {}
    if new_restricted:
        errors.setdefault("scopes", []).append(
            f"Restricted scope(s) need an admin's approval; request access: "
            f"{', '.join(new_restricted)}."
        )
    if errors:
        raise ClientError(errors)
    client.name = spec.name
    client.description = spec.description.strip()
    client.homepage_url = spec.homepage_url.strip()
    client.privacy_url = spec.privacy_url.strip()
    client.tos_url = spec.tos_url.strip()
    client.redirect_uris = spec.redirect_uris
    client.post_logout_redirect_uris = spec.post_logout_redirect_uris
    client.allowed_scopes = spec.scopes
    client.updated_at = utcnow()
    audit.record(
        uow,
        "client.updated",
        caller,
        user_id=user_id,
        client_id=client.client_id,
        fields=sorted(k for k in changes if merged[k] != current[k]),
    )
    uow.commit()
    return client


class MemberError(ValueError):
    """A readable reason for the members form."""


def members(client: Client) -> list[tuple[User, str]]:
    rows = db.session.execute(
        select(User, ClientMember.role)
        .join(ClientMember, ClientMember.user_id == User.id)
        .where(ClientMember.client_pk == client.id)
        .order_by(User.username_key)
    )
    found = [(u, r) for u, r in rows]
    owner = db.session.get(User, client.owner_id) if client.owner_id else None
    return ([(owner, OWNER)] if owner else []) + [(u, r) for u, r in found if u is not owner]


def add_member(
    uow: Any, caller: Caller, client: Client, actor_id: int, username: str, role: str
) -> User:
    if role not in ROLES:
        raise MemberError(f"Choose a role: {', '.join(ROLES)}.")
    user = uow.users.by_login((username or "").strip())
    if user is None or user.disabled_at is not None or "@" in (username or ""):
        raise MemberError("There is no account with this username.")
    if user.id == client.owner_id or db.session.scalar(
        select(ClientMember.id).where(
            ClientMember.client_pk == client.id, ClientMember.user_id == user.id
        )
    ):
        raise MemberError(f"{user.username} is already a member of this app.")
    db.session.add(ClientMember(client_pk=client.id, user_id=user.id, role=role))
    audit.record(
        uow, "client.member_added", caller, user_id=actor_id, client_id=client.client_id,
        member=user.username, role=role,
    )  # fmt: skip
    uow.commit()
    return user


def remove_member(uow: Any, caller: Caller, client: Client, actor_id: int, user_id: int) -> None:
    row = db.session.scalar(
        select(ClientMember).where(
            ClientMember.client_pk == client.id, ClientMember.user_id == user_id
        )
    )
    if row is None:
        raise MemberError("This person is not a member of the app.")
    db.session.delete(row)
    audit.record(
        uow, "client.member_removed", caller, user_id=actor_id, client_id=client.client_id,
        member_id=user_id,
    )  # fmt: skip
    uow.commit()
