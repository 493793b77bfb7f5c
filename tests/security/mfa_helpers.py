"""Helpers for the second-factor tests: enrol a factor through the services, read codes."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pyotp
from sqlalchemy import select

from idp.extensions import db
from idp.services import mfa
from idp.services.context import Caller
from idp.storage.models import User
from idp.storage.unit_of_work import SqlAlchemyUnitOfWork

CODE_RE = re.compile(r"<code>((?:[a-z0-9]{4}-){5}[a-z0-9]{4})</code>")
T0 = datetime(2026, 11, 30, 12, 0, 0, tzinfo=UTC)


def enrol_totp(app, user_id: int, at: datetime = T0) -> tuple[str, list[str]]:
    """(secret, recovery codes): TOTP confirmed with the code of `at`'s step."""
    with app.app_context():
        work = SqlAlchemyUnitOfWork()
        settings = app.extensions["tessera"].mfa
        user = work.users.get(user_id)
        secret = mfa.start_totp(work, settings, user)
        code = pyotp.TOTP(secret).at(at)
        codes = mfa.confirm_totp(work, settings, Caller(), user, code, now=at)
        db.session.remove()
    return secret, codes


def code_at(secret: str, at: datetime, seconds: int = 0) -> str:
    return pyotp.TOTP(secret).at(at + timedelta(seconds=seconds))


def make_admin(app, user_id: int) -> None:
    with app.app_context():
        db.session.get(User, user_id).is_admin = True
        db.session.commit()
        db.session.remove()


def user_id_of(app, username: str = "trader") -> int:
    with app.app_context():
        found = db.session.scalar(select(User.id).where(User.username == username))
        db.session.remove()
    return found
