"""Repositories for what surrounds an app: its members, access requests and logo."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, NamedTuple

from sqlalchemy import func, select

from idp.extensions import db
from idp.storage.models import (
    AccessRequest,
    AccessTokenRecord,
    AuditEvent,
    Client,
    ClientLogo,
    ClientMember,
    Grant,
    UsageActiveUser,
    UsageDaily,
    UsageErrorDaily,
    User,
)


class SqlAlchemyMemberRepository:
    def role(self, client_pk: int, user_id: int) -> str | None:
        stmt = select(ClientMember.role).where(
            ClientMember.client_pk == client_pk, ClientMember.user_id == user_id
        )
        return db.session.scalar(stmt)

    def of_client(self, client_pk: int) -> list[tuple[User, str]]:
        """Members and their roles, by username (the owner is not a member row)."""
        rows = db.session.execute(
            select(User, ClientMember.role)
            .join(ClientMember, ClientMember.user_id == User.id)
            .where(ClientMember.client_pk == client_pk)
            .order_by(User.username_key)
        )
        return [(user, role) for user, role in rows]

    def create(self, **fields: Any) -> ClientMember:
        row = ClientMember(**fields)
        db.session.add(row)
        return row

    def remove(self, client_pk: int, user_id: int) -> bool:
        """False when `user_id` was not a member."""
        row = db.session.scalar(
            select(ClientMember).where(
                ClientMember.client_pk == client_pk, ClientMember.user_id == user_id
            )
        )
        if row is None:
            return False
        db.session.delete(row)
        return True


class SqlAlchemyAccessRequestRepository:
    def create(self, **fields: Any) -> AccessRequest:
        row = AccessRequest(**fields)
        db.session.add(row)
        return row

    def get(self, request_id: int) -> AccessRequest | None:
        return db.session.get(AccessRequest, request_id)

    def pending_for_client(self, client_pk: int) -> list[AccessRequest]:
        stmt = select(AccessRequest).where(
            AccessRequest.client_pk == client_pk, AccessRequest.status == "pending"
        )
        return list(db.session.scalars(stmt))

    def for_client(self, client_pk: int) -> list[AccessRequest]:
        stmt = (
            select(AccessRequest)
            .where(AccessRequest.client_pk == client_pk)
            .order_by(AccessRequest.created_at.desc())
        )
        return list(db.session.scalars(stmt))

    def with_status(self, status: str, limit: int = 100, offset: int = 0) -> list[AccessRequest]:
        stmt = (
            select(AccessRequest)
            .where(AccessRequest.status == status)
            .order_by(AccessRequest.created_at)
            .limit(limit)
            .offset(offset)
        )
        return list(db.session.scalars(stmt))


class AppLogo(NamedTuple):
    """What the public logo URL serves, without a sign-in."""

    name: str
    content_type: str | None  # None: the app has no logo of its own
    data: bytes | None


class SqlAlchemyLogoRepository:
    def get(self, client_pk: int) -> ClientLogo | None:
        return db.session.get(ClientLogo, client_pk)

    def public(self, client_id: str) -> AppLogo | None:
        """The app's name and logo; None for an unknown app."""
        row = db.session.execute(
            select(Client.id, Client.name).where(Client.client_id == client_id)
        ).first()
        if row is None:
            return None
        logo = db.session.get(ClientLogo, row.id)
        if logo is None:
            return AppLogo(row.name, None, None)
        return AppLogo(row.name, logo.content_type, logo.data)

    def create(self, **fields: Any) -> ClientLogo:
        row = ClientLogo(**fields)
        db.session.add(row)
        return row


class SqlAlchemyAppUsageRepository:
    """What the portal reads about an app's use (the counter itself is idp.storage...usage)."""

    def daily_counts(self, client_pk: int, first: date) -> dict[date, int]:
        stmt = select(UsageDaily.day, UsageDaily.tokens_issued).where(
            UsageDaily.client_pk == client_pk, UsageDaily.day >= first
        )
        return {day: int(count) for day, count in db.session.execute(stmt).all()}

    def active_users(self, client_pk: int) -> int:
        stmt = select(func.count(Grant.id)).where(
            Grant.client_pk == client_pk, Grant.revoked_at.is_(None)
        )
        return int(db.session.scalar(stmt) or 0)

    def last_token_at(self, client_pk: int) -> datetime | None:
        stmt = select(func.max(AccessTokenRecord.created_at))
        return db.session.scalar(stmt.where(AccessTokenRecord.client_pk == client_pk))

    def last_grant_use(self, client_pk: int) -> datetime | None:
        stmt = select(func.max(Grant.last_used_at)).where(Grant.client_pk == client_pk)
        return db.session.scalar(stmt)

    def daily_errors(self, client_pk: int, first: date) -> dict[tuple[date, str], int]:
        t = UsageErrorDaily
        stmt = select(t.day, t.error, t.count).where(t.client_pk == client_pk, t.day >= first)
        return {(day, error): int(n) for day, error, n in db.session.execute(stmt).all()}

    def daily_active_users(self, client_pk: int, first: date) -> dict[date, int]:
        t = UsageActiveUser
        stmt = (
            select(t.day, func.count(t.user_id))
            .where(t.client_pk == client_pk, t.day >= first)
            .group_by(t.day)
        )
        return {day: int(n) for day, n in db.session.execute(stmt).all()}

    def last_counted_day(self, client_pk: int) -> date | None:
        stmt = select(func.max(UsageDaily.day)).where(UsageDaily.client_pk == client_pk)
        return db.session.scalar(stmt)


class SqlAlchemyDirectory:
    """The admin console's look-ups of people and logged event names."""

    def usernames(self, user_ids: set[int]) -> dict[int, str]:
        if not user_ids:
            return {}
        rows = db.session.execute(select(User.id, User.username).where(User.id.in_(user_ids)))
        return {row.id: row.username for row in rows}

    def user_id_by_username(self, username: str) -> int | None:
        return db.session.scalar(select(User.id).where(User.username_key == username.lower()))

    def event_names(self) -> list[str]:
        stmt = select(AuditEvent.event).distinct().order_by(AuditEvent.event)
        return list(db.session.scalars(stmt))
