"""Pending invitations to join an app (idp.services.app_members)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import aliased

from idp.extensions import db
from idp.storage.models import Client, ClientInvitation, User


class SqlAlchemyInvitationRepository:
    def create(self, **fields: Any) -> ClientInvitation:
        row = ClientInvitation(**fields)
        db.session.add(row)
        return row

    def get(self, invitation_id: int) -> ClientInvitation | None:
        return db.session.get(ClientInvitation, invitation_id)

    def pending(self, client_pk: int, user_id: int) -> ClientInvitation | None:
        return db.session.scalar(
            select(ClientInvitation).where(
                ClientInvitation.client_pk == client_pk, ClientInvitation.user_id == user_id
            )
        )

    def for_user(self, user_id: int) -> list[tuple[ClientInvitation, Client, str | None]]:
        """The user's invitations, newest first, with the app and who invited."""
        inviter = aliased(User)
        rows = db.session.execute(
            select(ClientInvitation, Client, inviter.username)
            .join(Client, Client.id == ClientInvitation.client_pk)
            .outerjoin(inviter, inviter.id == ClientInvitation.invited_by)
            .where(ClientInvitation.user_id == user_id)
            .order_by(ClientInvitation.created_at.desc(), ClientInvitation.id.desc())
        )
        return [(row, client, name) for row, client, name in rows]

    def delete(self, row: ClientInvitation) -> None:
        db.session.delete(row)
