"""Bulk storage for `tessera users import` (idp.services.user_import.ImportStore).

The checked rows go into a temporary staging table (PostgreSQL: COPY; SQLite: executemany),
then set-based statements match them against `users` and insert the new ones: no ORM object
per row, a few statements per import whatever its size. Everything runs in the session's one
transaction, so a failure or a refusal leaves the database as it was.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from itertools import islice
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    exists,
    false,
    func,
    insert,
    literal,
    or_,
    select,
    text,
)

from idp.extensions import db
from idp.services.context import Caller
from idp.services.user_import import ImportRow
from idp.storage.models import User
from idp.storage.models.base import UTCDateTime
from idp.storage.repositories.accounts import SqlAlchemyAuditLog

_staging_metadata = MetaData()
STAGING = Table(
    "tessera_import_staging",
    _staging_metadata,
    Column("line", Integer, primary_key=True),
    *(Column(name, String(255)) for name in ImportRow._fields[1:6]),
    Column("email_verified", Boolean),
    Column("password_hash", String(255)),
    Column("created_at", UTCDateTime),
    Column("external_id", String(255), nullable=True),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DROP",
)
BATCH = 10_000
_users = User.__table__


def _matched(s: Any = STAGING.c) -> Any:
    """The staged row names an existing account: same username, or same external id."""
    by_name = exists().where(_users.c.username_key == s.username_key)
    by_external = and_(
        s.external_id.is_not(None), exists().where(_users.c.external_id == s.external_id)
    )
    return or_(by_name, by_external)


def _batches(rows: Iterable[ImportRow]) -> Iterator[list[ImportRow]]:
    iterator = iter(rows)
    while batch := list(islice(iterator, BATCH)):
        yield batch


class SqlAlchemyImportStore:
    def __init__(self) -> None:
        self._connection = db.session.connection()
        self._postgres = self._connection.dialect.name == "postgresql"
        if self._postgres:
            # TESSERA_DB_STATEMENT_TIMEOUT bounds a request's statements; staging a million
            # rows is one statement of an operator's command and may take minutes.
            self._connection.execute(text("SET LOCAL statement_timeout = 0"))
        STAGING.drop(self._connection, checkfirst=True)
        STAGING.create(self._connection)

    def stage(self, rows: Iterable[ImportRow]) -> None:
        if self._postgres:
            self._copy(rows)
            return
        for batch in _batches(rows):
            self._connection.execute(insert(STAGING), [row._asdict() for row in batch])

    def _copy(self, rows: Iterable[ImportRow]) -> None:
        cursor = self._connection.connection.driver_connection.cursor()
        columns = ", ".join(ImportRow._fields)
        with cursor.copy(f"COPY {STAGING.name} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def conflicts(self) -> list[tuple[int, str]]:
        """Staged rows that cannot be imported because of accounts already there."""
        s, by_name, by_external = STAGING.c, _users.alias("by_name"), _users.alias("by_ext")
        two_accounts = (
            select(s.line, by_name.c.username, by_external.c.username)
            .select_from(STAGING)
            .join(by_name, by_name.c.username_key == s.username_key)
            .join(by_external, by_external.c.external_id == s.external_id)
            .where(by_name.c.id != by_external.c.id)
        )
        found = [
            (line, f"username matches account {name!r} but external_id matches {other!r}")
            for line, name, other in self._connection.execute(two_accounts)
        ]
        taken = select(s.line, s.email).where(
            ~_matched(), exists().where(_users.c.email_key == s.email_key)
        )
        found += [
            (line, f"email {email!r} is already used by another account")
            for line, email in self._connection.execute(taken)
        ]
        return sorted(found)

    def discard(self, lines: set[int]) -> None:
        ordered = sorted(lines)
        for start in range(0, len(ordered), BATCH):
            chunk = ordered[start : start + BATCH]
            self._connection.execute(STAGING.delete().where(STAGING.c.line.in_(chunk)))

    def count_matched(self) -> int:
        return (
            self._connection.scalar(select(func.count()).select_from(STAGING).where(_matched()))
            or 0
        )

    def insert_unmatched(self, now: datetime) -> int:
        s = STAGING.c
        when = literal(now, UTCDateTime)
        source = select(
            s.subject, s.username, s.username_key, s.email, s.email_key, s.email_verified,
            s.password_hash, false(), s.created_at, when, when, s.external_id,
        ).where(~_matched())  # fmt: skip
        columns = [
            "subject", "username", "username_key", "email", "email_key", "email_verified",
            "password_hash", "is_admin", "created_at", "updated_at", "password_changed_at",
            "external_id",
        ]  # fmt: skip
        # rowcount is not reliable for INSERT ... SELECT across drivers: count first.
        created = self._connection.scalar(
            select(func.count()).select_from(STAGING).where(~_matched())
        )
        self._connection.execute(insert(_users).from_select(columns, source))
        return created or 0

    def record_audit(self, event: str, caller: Caller, **data: Any) -> None:
        SqlAlchemyAuditLog().record(
            event=event, user_id=None, client_id=None, ip=caller.ip[:64],
            user_agent=caller.user_agent[:255], data=data,
        )  # fmt: skip

    def commit(self) -> None:
        # PostgreSQL drops the staging table at the commit (ON COMMIT DROP); SQLite keeps a
        # temporary table for the connection's life, so it goes now. A rollback may leave it
        # on SQLite: the next import on that connection drops it first.
        if not self._postgres:
            STAGING.drop(self._connection)
        db.session.commit()

    def rollback(self) -> None:
        db.session.rollback()
