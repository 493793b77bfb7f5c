"""Shared helpers for the developer portal and management API tests (no tests here)."""

from __future__ import annotations

import io
import re

from PIL import Image

from idp.extensions import db
from idp.services import accounts, apps
from idp.services.context import Caller
from idp.storage.models import Client
from idp.storage.unit_of_work import SqlAlchemyUnitOfWork
from tests.conftest import PASSWORD, AuthActions, csrf_token

CLIENT_ID_RE = re.compile(r"/developers/apps/([^/]+)/credentials")
SECRET_RE = re.compile(r'id="client-secret"[^>]*value="([^"]+)"')


def register_user(app, username: str) -> int:
    with app.app_context():
        user = accounts.register(
            SqlAlchemyUnitOfWork(), app.extensions["tessera"].hasher, Caller(),
            username=username, email=f"{username}@example.com", password=PASSWORD,
        )  # fmt: skip
        return user.id


def signed_in(app, username: str):
    """A new test client signed in as `username` (registered first)."""
    register_user(app, username)
    browser = app.test_client()
    assert AuthActions(browser).login(login=username).status_code == 303
    return browser


def make_client(app, owner_id: int | None, **spec) -> str:
    spec.setdefault("name", "Price Bot")
    spec.setdefault("app_type", "service")
    spec.setdefault("scopes", ["market:read"])
    with app.app_context():
        client, _ = apps.create_client(
            SqlAlchemyUnitOfWork(), app.extensions["tessera"].catalogue, Caller(),
            apps.ClientSpec(**spec), owner_id=owner_id, allow_restricted=True,
        )  # fmt: skip
        return client.client_id


def load_client(app, client_id: str) -> Client | None:
    with app.app_context():
        client = db.session.query(Client).filter_by(client_id=client_id).one_or_none()
        if client is not None:
            _ = client.secrets, client.allowed_scopes
            db.session.expunge(client)
        return client


def count_clients(app) -> int:
    with app.app_context():
        return db.session.query(Client).count()


def image_bytes(fmt: str = "PNG", size: tuple[int, int] = (64, 64)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, format=fmt)
    return out.getvalue()


def create_form(browser, **fields) -> dict:
    data = {
        "csrf_token": csrf_token(browser, "/developers/apps/new"),
        "name": "Trade Helper",
        "app_type": "web",
        "redirect_uris": "https://app.example.com/callback",
        "scopes": ["openid", "profile"],
    }
    data.update(fields)
    return {k: v for k, v in data.items() if v is not None}


def create_app_via_portal(browser, **fields) -> tuple[str, str | None]:
    """Create an app through the form; (client_id, the secret shown on the next page)."""
    response = browser.post(
        "/developers/apps/new", data=create_form(browser, **fields),
        content_type="multipart/form-data",
    )  # fmt: skip
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    client_id = CLIENT_ID_RE.search(response.headers["Location"]).group(1)
    page = browser.get(response.headers["Location"]).get_data(as_text=True)
    match = SECRET_RE.search(page)
    return client_id, match.group(1) if match else None


def token_for(app, client_id: str, secret: str):
    return app.test_client().post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(client_id, secret),
    )
