"""Repository functions for apps, grants, codes, tokens and device codes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, bindparam, exists, func, insert, or_, select, update
from sqlalchemy.exc import SQLAlchemyError

from idp.domain.clock import utcnow
from idp.extensions import db
from idp.storage.models import (
    AccessTokenRecord,
    AuthorizationCode,
    Client,
    ClientMember,
    ClientSecret,
    DeviceCode,
    Grant,
    RefreshToken,
    User,
)
from idp.storage.outage import OUTAGES, is_outage

# The token endpoint's statements (refresh rotation, code exchange), built once: constructing a
# statement costs more than running it on SQLite, and Core statements skip the ORM's
# bulk-update and unit-of-work machinery.
_tokens = RefreshToken.__table__
_CLAIM_BY_DIGEST = (
    update(_tokens)
    .where(
        _tokens.c.digest == bindparam("presented"),
        _tokens.c.rotated_at.is_(None),
        _tokens.c.revoked_at.is_(None),
    )
    .values(rotated_at=bindparam("claimed_at"))
    .returning(*_tokens.c)
)
_GRANT_WITH_USER = (
    select(
        Grant.__table__.c.gid,
        Grant.__table__.c.revoked_at,
        User.__table__.c.id.label("user_id"),
        User.__table__.c.subject,
        User.__table__.c.disabled_at,
    )
    .join(User.__table__, User.__table__.c.id == bindparam("user_id"))
    .where(Grant.__table__.c.id == bindparam("pk"))
)
_codes = AuthorizationCode.__table__
_CLAIM_CODE = (
    update(_codes)
    .where(
        _codes.c.code_digest == bindparam("presented"),
        _codes.c.client_pk == bindparam("client"),
        _codes.c.used_at.is_(None),
    )
    .values(used_at=bindparam("claimed_at"), family_id=bindparam("family"))
    .returning(*_codes.c)
)
_GRANT_STANDING = select(Grant.__table__.c.gid, Grant.__table__.c.revoked_at).where(
    Grant.__table__.c.id == bindparam("pk")
)
_INSERT_REFRESH_TOKEN = insert(_tokens)
_INSERT_ACCESS_TOKEN = insert(AccessTokenRecord.__table__)


class SqlAlchemyClientRepository:
    def by_client_id(self, client_id: str) -> Client | None:
        return db.session.scalar(select(Client).where(Client.client_id == client_id))

    def get(self, pk: int) -> Client | None:
        return db.session.get(Client, pk)

    def add(self, client: Client) -> Client:
        db.session.add(client)
        db.session.flush()
        return client

    def create(self, **fields: Any) -> Client:
        return self.add(Client(**fields))

    def add_secret(
        self,
        client: Client,
        digest: str,
        created_at: datetime | None = None,
        last4: str | None = None,
    ) -> None:
        client.secrets.append(
            ClientSecret(digest=digest, created_at=created_at or utcnow(), last4=last4)
        )

    def mark_secret_used(self, digest: str, now: datetime, not_since: datetime) -> int:
        """Stamp the secret as used unless it was stamped after `not_since`. A Core UPDATE, not
        the ORM: the app-cache hooks must not see it as a change to the app. Skipped while the
        database is known to be failing: client_credentials then runs from the app cache and
        must not wait on a connection for a last-use date."""
        if OUTAGES.recent():
            return 0
        table = ClientSecret.__table__
        stmt = (
            update(table)
            .where(table.c.digest == digest)
            .where(or_(table.c.last_used_at.is_(None), table.c.last_used_at < not_since))
            .values(last_used_at=now)
        )
        try:
            return db.session.execute(stmt).rowcount or 0
        except SQLAlchemyError as exc:
            if is_outage(exc):
                OUTAGES.record("client secret last use", exc)
            raise

    def remove_secret(self, client: Client, secret: ClientSecret) -> None:
        client.secrets.remove(secret)

    def delete(self, client: Client) -> None:
        db.session.delete(client)

    def all(self) -> list[Client]:
        return list(db.session.scalars(select(Client).order_by(Client.id)))

    def visible_to(self, user_id: int) -> list[Client]:
        """The apps `user_id` owns or is a member of, oldest first."""
        stmt = select(Client).where(_visible_to(user_id))
        return list(db.session.scalars(stmt.order_by(Client.created_at, Client.id)))

    def visible_by_client_id(self, user_id: int, client_id: str) -> Client | None:
        stmt = select(Client).where(Client.client_id == client_id, _visible_to(user_id))
        return db.session.scalar(stmt)

    def search(self, query: str, limit: int = 50, offset: int = 0) -> list[Client]:
        """Apps whose name, client_id or owner's username contains `query` (case-insensitive)."""
        stmt = select(Client).outerjoin(User, User.id == Client.owner_id)
        if query:
            like = f"%{query.lower()}%"
            stmt = stmt.where(
                or_(
                    func.lower(Client.name).like(like),
                    func.lower(Client.client_id).like(like),
                    User.username_key.like(like),
                )
            )
        stmt = stmt.order_by(Client.created_at.desc(), Client.id.desc())
        return list(db.session.scalars(stmt.limit(limit).offset(offset)))

    def by_pks(self, pks: set[int]) -> dict[int, Client]:
        if not pks:
            return {}
        return {c.id: c for c in db.session.scalars(select(Client).where(Client.id.in_(pks)))}

    def owned_by(self, user_id: int) -> list[Client]:
        return list(db.session.scalars(select(Client).where(Client.owner_id == user_id)))


def _visible_to(user_id: int) -> ColumnElement[bool]:
    member = exists().where(ClientMember.client_pk == Client.id, ClientMember.user_id == user_id)
    return or_(Client.owner_id == user_id, member)


class SqlAlchemyGrantRepository:
    def active(self, user_id: int, client_pk: int) -> Grant | None:
        return db.session.scalar(
            select(Grant)
            .where(
                Grant.user_id == user_id, Grant.client_pk == client_pk, Grant.revoked_at.is_(None)
            )
            .order_by(Grant.id.desc())
        )

    def by_pk(self, pk: int) -> Grant | None:
        return db.session.get(Grant, pk)

    def standing(self, pk: int) -> Row | None:
        """gid and revoked_at, without loading the grant."""
        return db.session.execute(_GRANT_STANDING, {"pk": pk}).first()

    def with_user(self, pk: int, user_id: int) -> Row | None:
        """gid, revoked_at, and the user's id, subject and disabled_at, in one read."""
        return db.session.execute(_GRANT_WITH_USER, {"pk": pk, "user_id": user_id}).first()

    def by_gid(self, gid: str) -> Grant | None:
        return db.session.scalar(select(Grant).where(Grant.gid == gid))

    def create(self, **fields: object) -> Grant:
        grant = Grant(**fields)
        db.session.add(grant)
        db.session.flush()
        return grant

    def active_for_user(self, user_id: int) -> list[Grant]:
        return list(
            db.session.scalars(
                select(Grant)
                .where(Grant.user_id == user_id, Grant.revoked_at.is_(None))
                .order_by(Grant.created_at)
            )
        )

    def active_for_client(self, client_pk: int) -> list[Grant]:
        return list(
            db.session.scalars(
                select(Grant).where(Grant.client_pk == client_pk, Grant.revoked_at.is_(None))
            )
        )

    def count_active_for_client(self, client_pk: int) -> int:
        return (
            db.session.scalar(
                select(func.count(Grant.id)).where(
                    Grant.client_pk == client_pk, Grant.revoked_at.is_(None)
                )
            )
            or 0
        )

    def count_active_for_user(self, user_id: int) -> int:
        stmt = select(func.count(Grant.id)).where(
            Grant.user_id == user_id, Grant.revoked_at.is_(None)
        )
        return db.session.scalar(stmt) or 0


class SqlAlchemyCodeRepository:
    def add(self, code: AuthorizationCode) -> None:
        db.session.add(code)

    def create(self, **fields: object) -> AuthorizationCode:
        """A new code row, added to the session (flushed with the request's commit)."""
        code = AuthorizationCode(**fields)
        db.session.add(code)
        return code

    def by_digest(self, digest: str) -> AuthorizationCode | None:
        return db.session.scalar(
            select(AuthorizationCode).where(AuthorizationCode.code_digest == digest)
        )

    def claim_by_digest(
        self, digest: str, client_pk: int, family_id: str, now: datetime
    ) -> Row | None:
        """Use the unused code with this digest issued to this app; its columns, or None.

        One statement, so one use even under concurrency (as RefreshToken's claim_by_digest).
        None when there is no such code for this app or it was used (by_digest tells which).
        """
        params = {"presented": digest, "client": client_pk, "claimed_at": now, "family": family_id}
        return db.session.execute(_CLAIM_CODE, params).first()


class SqlAlchemyRefreshTokenRepository:
    def add(self, token: RefreshToken) -> None:
        db.session.add(token)

    def insert(self, values: dict) -> None:
        """A new token row without an ORM object (the token endpoint's path)."""
        db.session.execute(_INSERT_REFRESH_TOKEN, values)

    def by_digest(self, digest: str) -> RefreshToken | None:
        return db.session.scalar(select(RefreshToken).where(RefreshToken.digest == digest))

    def claim_by_digest(self, digest: str, now: datetime) -> Row | None:
        """Rotate the live token with this digest and return its columns, in one statement.

        None when there is no such token, or it was revoked or rotated already (by_digest then
        tells which). Exactly one of two concurrent requests gets the row: the UPDATE takes the
        row lock on PostgreSQL, and the loser re-reads the row after the winner commits, finds
        rotated_at set and updates nothing.
        """
        return db.session.execute(
            _CLAIM_BY_DIGEST, {"presented": digest, "claimed_at": now}
        ).first()

    def rotated_at(self, token_id: int) -> datetime | None:
        """A fresh read, after a lost race: the row in the session may predate the winner's commit."""
        value = db.session.scalar(
            select(RefreshToken.rotated_at).where(RefreshToken.id == token_id)
        )
        return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value

    def revoke_family(self, family_id: str, now: datetime) -> None:
        db.session.execute(
            update(RefreshToken)
            .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=now)
            .execution_options(synchronize_session=False)
        )

    def revoke_for_grant(self, grant_pk: int, now: datetime) -> None:
        db.session.execute(
            update(RefreshToken)
            .where(RefreshToken.grant_pk == grant_pk, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=now)
            .execution_options(synchronize_session=False)
        )

    def revoke_for_client(self, client_pk: int, now: datetime) -> None:
        db.session.execute(
            update(RefreshToken)
            .where(RefreshToken.client_pk == client_pk, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=now)
            .execution_options(synchronize_session=False)
        )


class SqlAlchemyAccessTokenRepository:
    def add(self, record: AccessTokenRecord) -> None:
        db.session.add(record)

    def insert(self, values: dict) -> None:
        """A new jti record without an ORM object (the token endpoint's path)."""
        db.session.execute(_INSERT_ACCESS_TOKEN, values)

    def get(self, jti: str) -> AccessTokenRecord | None:
        return db.session.get(AccessTokenRecord, jti)

    def live_for_family(self, family_id: str, now: datetime) -> list[AccessTokenRecord]:
        return list(
            db.session.scalars(
                select(AccessTokenRecord).where(
                    AccessTokenRecord.family_id == family_id, AccessTokenRecord.expires_at > now
                )
            )
        )

    def last_issued_for_grant(self, grant_pk: int) -> datetime | None:
        return db.session.scalar(
            select(func.max(AccessTokenRecord.created_at)).where(
                AccessTokenRecord.grant_pk == grant_pk
            )
        )


class SqlAlchemyDeviceCodeRepository:
    def add(self, device_code: DeviceCode) -> None:
        db.session.add(device_code)

    def create(self, **fields: object) -> DeviceCode:
        """A new device code row, added to the session (flushed with the request's commit)."""
        device_code = DeviceCode(**fields)
        db.session.add(device_code)
        return device_code

    def by_digest(self, digest: str) -> DeviceCode | None:
        return db.session.scalar(select(DeviceCode).where(DeviceCode.device_code_digest == digest))

    def by_user_code(self, user_code: str) -> DeviceCode | None:
        return db.session.scalar(select(DeviceCode).where(DeviceCode.user_code == user_code))

    def decide(self, device_code: DeviceCode, status: str, values: dict) -> bool:
        """Approve or deny a pending code; False when it was decided by someone else first."""
        result = db.session.execute(
            update(DeviceCode)
            .where(DeviceCode.id == device_code.id, DeviceCode.status == "pending")
            .values(status=status, **values)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:
            device_code.status = status
            for key, value in values.items():
                setattr(device_code, key, value)
            return True
        return False

    def claim(self, device_code: DeviceCode) -> bool:
        result = db.session.execute(
            update(DeviceCode)
            .where(DeviceCode.id == device_code.id, DeviceCode.status == "approved")
            .values(status="consumed")
            .execution_options(synchronize_session=False)
        )
        return result.rowcount == 1
