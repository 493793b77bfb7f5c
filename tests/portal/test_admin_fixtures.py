"""Shared helpers for the admin console tests (no tests here)."""

from __future__ import annotations

import re

from sqlalchemy import select

from idp.extensions import db
from idp.services import access_requests, accounts, apps
from idp.services.context import Caller
from idp.storage.models import AuditEvent
from idp.storage.unit_of_work import SqlAlchemyUnitOfWork
from tests.conftest import PASSWORD, AuthActions
from tests.security.conftest import WEB_REDIRECT, App, register_app

CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def register(app, username: str, *, admin: bool = False) -> int:
    with app.app_context():
        user = accounts.register(
            SqlAlchemyUnitOfWork(), app.extensions["tessera"].hasher, Caller(),
            username=username, email=f"{username}@example.com", password=PASSWORD,
        )  # fmt: skip
        user.is_admin = admin
        db.session.commit()
        return user.id


def browser_for(app, username: str, *, admin: bool = False):
    """A new test client signed in as a freshly registered `username`."""
    register(app, username, admin=admin)
    browser = app.test_client()
    assert AuthActions(browser).login(login=username).status_code == 303
    return browser


def token_on(browser, path: str) -> str:
    page = browser.get(path)
    match = CSRF_RE.search(page.get_data(as_text=True))
    assert match, f"no CSRF token on {path} ({page.status_code})"
    return match.group(1)


def web_app(app, owner_id: int | None, scopes: list[str] | None = None) -> App:
    return register_app(
        app,
        apps.ClientSpec(
            name="Trade Helper",
            app_type="web",
            redirect_uris=[WEB_REDIRECT],
            scopes=scopes or ["openid", "profile", "offline_access", "orders:read"],
        ),
        owner_id=owner_id,
    )


def ask_for_scopes(app, client_id: str, user_id: int, scopes: list[str]) -> int:
    with app.app_context():
        uow = SqlAlchemyUnitOfWork()
        row = access_requests.request_scopes(
            uow, app.extensions["tessera"].catalogue, Caller(), uow.clients.by_client_id(client_id),
            user_id, scopes, "The app places orders for its users at their request.",
        )  # fmt: skip
        return row.id


def ask_for_tier(app, client_id: str, user_id: int, tier: str = "verified") -> int:
    with app.app_context():
        uow = SqlAlchemyUnitOfWork()
        row = access_requests.request_tier(
            uow, app.extensions["tessera"].catalogue, Caller(), uow.clients.by_client_id(client_id),
            user_id, tier, "We have many users and hit the default limits every evening.",
        )  # fmt: skip
        return row.id


def load(app, model, **where):
    with app.app_context():
        row = db.session.scalar(select(model).filter_by(**where))
        if row is not None:
            db.session.expunge(row)
        return row


def events(app, name: str) -> list[AuditEvent]:
    with app.app_context():
        rows = list(db.session.scalars(select(AuditEvent).where(AuditEvent.event == name)))
        for row in rows:
            db.session.expunge(row)
        return rows
