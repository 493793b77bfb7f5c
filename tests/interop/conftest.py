"""A live Tessera for third-party OAuth client libraries, and a browser that signs in and consents.

Tessera runs in a werkzeug server thread on a loopback port, its issuer being its real URL, on a
database brought up by the real migrations: a SQLite file, and PostgreSQL when
TESSERA_TEST_POSTGRES_URL is set (the `backend` fixture of tests/conftest.py decides). The
PostgreSQL server gets a database of its own, `<that database>_interop`, created here and dropped
afterwards: the live server keeps its rows for the whole session, which must not collide with
the per-test table emptying of the other suites on the shared test database.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
import requests
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from idp.extensions import db
from idp.services import accounts, apps
from idp.services.context import Caller
from idp.storage.unit_of_work import SqlAlchemyUnitOfWork
from tests.conftest import PASSWORD
from tests.live_server import start_live_tessera, stop_live_tessera

CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
PENDING_RE = re.compile(r'name="pending_id" value="([^"]+)"')
USERNAME = "interop"
EMAIL = "interop@example.com"
WEB_REDIRECT = "https://rp.example.com/callback"
SPA_REDIRECT = "http://127.0.0.1/callback"


@dataclass
class RegisteredApp:
    client_id: str
    client_secret: str | None
    redirect_uri: str


@dataclass
class LiveServer:
    issuer: str
    app: Any

    def url(self, path: str) -> str:
        return self.issuer + path

    def register(self, spec: apps.ClientSpec) -> RegisteredApp:
        """An app registered through the same service the portal and the CLI use."""
        with self.app.app_context():
            client, secret = apps.create_client(
                SqlAlchemyUnitOfWork(),
                self.app.extensions["tessera"].catalogue,
                Caller(),
                spec,
                owner_id=None,
                allow_restricted=True,
            )
            registered = RegisteredApp(
                client.client_id,
                secret,
                spec.redirect_uris[0] if spec.redirect_uris else "",
            )
            db.session.remove()
        return registered


def _own_postgres_database(url: str) -> str:
    """A fresh sibling database of the one in TESSERA_TEST_POSTGRES_URL, for this server only."""
    base = make_url(url)
    name = f"{base.database}_interop"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def _drop_postgres_database(url: str) -> None:
    target = make_url(url)
    base = make_url(os.environ.get("TESSERA_TEST_POSTGRES_URL") or url)
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
    admin.dispose()


def _seed_user(app: Any) -> None:
    accounts.register(
        SqlAlchemyUnitOfWork(),
        app.extensions["tessera"].hasher,
        Caller(),
        username=USERNAME,
        email=EMAIL,
        password=PASSWORD,
    )


@pytest.fixture(scope="session")
def live_server(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp = tmp_path_factory.mktemp(f"interop-{backend}")
    if backend == "sqlite":
        database_url = f"sqlite:///{tmp / 'tessera.db'}"
    else:
        database_url = _own_postgres_database(os.environ["TESSERA_TEST_POSTGRES_URL"])
    # No grace for a rotated refresh token: a replay is always treated as theft (RFC 9700 4.14.2).
    app, server, issuer = start_live_tessera(
        database_url, tmp / "instance", prepare=_seed_user, REFRESH_TOKEN_REUSE_GRACE=0
    )
    try:
        yield LiveServer(issuer, app)
    finally:
        stop_live_tessera(app, server)
        if backend == "postgresql":
            _drop_postgres_database(database_url)


@pytest.fixture
def web_app(live_server: LiveServer) -> RegisteredApp:
    """A confidential web app (client_secret_basic), fresh for each test."""
    return live_server.register(
        apps.ClientSpec(
            name="Interop Web",
            app_type="web",
            redirect_uris=[WEB_REDIRECT],
            scopes=["openid", "profile", "email", "offline_access", "orders:read"],
        )
    )


@pytest.fixture
def spa_app(live_server: LiveServer) -> RegisteredApp:
    """A public browser app (token_endpoint_auth_method=none), fresh for each test."""
    return live_server.register(
        apps.ClientSpec(
            name="Interop SPA",
            app_type="spa",
            redirect_uris=[SPA_REDIRECT],
            scopes=["openid", "profile", "offline_access", "orders:read"],
        )
    )


@pytest.fixture
def service_app(live_server: LiveServer) -> RegisteredApp:
    """An app acting for itself (client_credentials), fresh for each test."""
    return live_server.register(
        apps.ClientSpec(
            name="Interop Bot",
            app_type="service",
            scopes=["market:read", "ws:connect"],
            tier="verified",
        )
    )


class Browser:
    """The user agent: follows Tessera's redirects, signs in and allows, through the HTML forms.

    It stops at the redirect to the app's redirect_uri and hands its URL back without following
    it, as the app's callback would receive it.
    """

    def __init__(self, server: LiveServer) -> None:
        self.server = server
        self.session = requests.Session()
        self.pages: list[str] = []

    def authorize(self, authorization_url: str, redirect_uri: str, decision: str = "allow") -> str:
        response = self.session.get(authorization_url, allow_redirects=False, timeout=10)
        for _ in range(8):
            if response.status_code in (301, 302, 303, 307, 308):
                location = urljoin(response.url, response.headers["Location"])
                if location.startswith(redirect_uri):
                    assert response.status_code == 303, "RFC 9700 4.12: 303 after a POST"
                    return location
                response = self.session.get(location, allow_redirects=False, timeout=10)
            elif response.status_code == 200 and urlsplit(response.url).path == "/login":
                response = self._sign_in(response)
            elif response.status_code == 200 and PENDING_RE.search(response.text):
                response = self._consent(response, decision)
            else:
                break
        raise AssertionError(
            f"no redirect to {redirect_uri}: {response.status_code} {response.url}\n"
            f"{response.text[:800]}"
        )

    def _sign_in(self, page: requests.Response) -> requests.Response:
        token = CSRF_RE.search(page.text)
        assert token, page.text[:500]
        self.pages.append("login")
        return self.session.post(
            page.url,  # keeps ?next=/oauth/authorize?...
            data={"login": USERNAME, "password": PASSWORD, "csrf_token": token.group(1)},
            allow_redirects=False,
            timeout=10,
        )

    def _consent(self, page: requests.Response, decision: str) -> requests.Response:
        self.pages.append("consent")
        return self.session.post(
            self.server.url("/oauth/authorize"),
            data={
                "csrf_token": CSRF_RE.search(page.text).group(1),
                "pending_id": PENDING_RE.search(page.text).group(1),
                "decision": decision,
            },
            allow_redirects=False,
            timeout=10,
        )


@pytest.fixture
def browser(live_server: LiveServer) -> Iterator[Browser]:
    user_agent = Browser(live_server)
    yield user_agent
    user_agent.session.close()


def new_nonce() -> str:
    return secrets.token_urlsafe(16)
