"""Repository functions for users, login sessions and the audit log."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, or_, select

from idp.domain.clock import utcnow
from idp.extensions import db
from idp.storage.models import AuditEvent, LoginSession, User


class SqlAlchemyUserRepository:
    def get(self, user_id: int) -> User | None:
        return db.session.get(User, user_id)

    def by_login(self, login: str) -> User | None:
        key = login.strip().lower()
        return db.session.scalar(
            select(User).where(or_(User.username_key == key, User.email_key == key))
        )

    def by_subject(self, subject: str) -> User | None:
        return db.session.scalar(select(User).where(User.subject == subject))

    def username_taken(self, username: str) -> bool:
        return (
            db.session.scalar(select(User.id).where(User.username_key == username.lower()))
            is not None
        )

    def email_taken(self, email: str) -> bool:
        return db.session.scalar(select(User.id).where(User.email_key == email.lower())) is not None

    def create(self, **fields: object) -> User:
        user = User(**fields)
        db.session.add(user)
        db.session.flush()
        return user

    def search(self, query: str, limit: int = 50, offset: int = 0) -> list[User]:
        stmt = select(User).order_by(User.id)
        if query:
            like = f"%{query.lower()}%"
            stmt = stmt.where(or_(User.username_key.like(like), User.email_key.like(like)))
        return list(db.session.scalars(stmt.limit(limit).offset(offset)))

    def count(self) -> int:
        return db.session.scalar(select(func.count(User.id))) or 0


class SqlAlchemySessionRepository:
    def get(self, id_digest: str) -> LoginSession | None:
        return db.session.get(LoginSession, id_digest)

    def create(self, **fields: object) -> LoginSession:
        # No flush: the session's key is ours, and the commit that ends the login writes it.
        login_session = LoginSession(**fields)
        db.session.add(login_session)
        return login_session

    def delete(self, id_digest: str) -> None:
        db.session.execute(delete(LoginSession).where(LoginSession.id_digest == id_digest))

    def delete_for_user(self, user_id: int, keep: str | None = None) -> None:
        stmt = delete(LoginSession).where(LoginSession.user_id == user_id)
        if keep:
            stmt = stmt.where(LoginSession.id_digest != keep)
        db.session.execute(stmt)

    def touch(self, login_session: LoginSession, now: datetime | None = None) -> None:
        login_session.last_seen_at = now or utcnow()

    def for_user(self, user_id: int) -> list[LoginSession]:
        return list(db.session.scalars(select(LoginSession).where(LoginSession.user_id == user_id)))


class SqlAlchemyAuditLog:
    def record(
        self,
        *,
        event: str,
        user_id: int | None,
        client_id: str | None,
        ip: str,
        user_agent: str,
        data: dict,
    ) -> None:
        db.session.add(
            AuditEvent(
                event=event,
                user_id=user_id,
                client_id=client_id,
                ip=ip,
                user_agent=user_agent,
                data=data,
            )
        )

    def query(
        self,
        *,
        event: str | None = None,
        user_id: int | None = None,
        client_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        target_user_id: int | None = None,
        target_keys: tuple[str, ...] = (),
        limit: int = 50,
        offset: int = 0,
    ) -> list[AuditEvent]:
        stmt = select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        if target_user_id is not None and target_keys:
            # The account an event acted on is in its details, under one of `target_keys`.
            stmt = stmt.where(
                or_(*(AuditEvent.data[k].as_integer() == target_user_id for k in target_keys))
            )
        if event:
            stmt = stmt.where(AuditEvent.event == event)
        if user_id is not None:
            stmt = stmt.where(AuditEvent.user_id == user_id)
        if client_id:
            stmt = stmt.where(AuditEvent.client_id == client_id)
        if since:
            stmt = stmt.where(AuditEvent.at >= since)
        if until:
            stmt = stmt.where(AuditEvent.at < until)
        return list(db.session.scalars(stmt.limit(limit).offset(offset)))

    def about_user(self, user_id: int, limit: int = 1000) -> list[AuditEvent]:
        """Events by or about `user_id` (an admin's action on them names them in the data),
        oldest first."""
        target = AuditEvent.data["target_user_id"].as_integer()
        stmt = (
            select(AuditEvent)
            .where(or_(AuditEvent.user_id == user_id, target == user_id))
            .order_by(AuditEvent.at, AuditEvent.id)
        )
        return list(db.session.scalars(stmt.limit(limit)))
