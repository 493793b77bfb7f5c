"""Shared fixtures. Every test that touches storage runs once on SQLite and once on PostgreSQL.

PostgreSQL comes from TESSERA_TEST_POSTGRES_URL (`.ci/run` creates a fresh database per run and
sets it). Without it, the PostgreSQL half is skipped with a reason, except under CI, where a
missing database is a failure rather than a quiet skip.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import freezegun
import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from idp import create_app
from idp.extensions import db

# freezegun gives threads real time by default; limits' memory storage expires entries from a
# timer thread, which would then see frozen entries as long expired and drop them. This is
# freezegun's own default list without "threading" and "queue".
freezegun.configure(
    default_ignore_list=[
        "nose.plugins",
        "six.moves",
        "django.utils.six.moves",
        "google.gax",
        "multiprocessing",
        "selenium",
        "_pytest.terminal.",
        "_pytest.runner.",
        "gi",
        "prompt_toolkit",
    ]
)

CHEAP_ARGON2 = {"ARGON2_TIME_COST": 1, "ARGON2_MEMORY_COST": 8, "ARGON2_PARALLELISM": 1}
TEST_SECRET = "test-secret-key-that-is-long-enough-0123456789"
PASSWORD = "correct horse battery staple"
CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def _postgres_url() -> str | None:
    return os.environ.get("TESSERA_TEST_POSTGRES_URL") or None


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgresql" and not _postgres_url():
        if os.environ.get("CI"):
            pytest.fail("CI must run the PostgreSQL tests: TESSERA_TEST_POSTGRES_URL is not set")
        pytest.skip("PostgreSQL tests need TESSERA_TEST_POSTGRES_URL (set by .ci/run)")
    return request.param


@pytest.fixture(scope="session")
def database_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'tessera.db'}"
    return _postgres_url()


def _reset_schema(url: str) -> None:
    """Drop everything, so a reused local PostgreSQL database starts from empty too."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(sa.text("DROP SCHEMA public CASCADE"))
            conn.execute(sa.text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(scope="session")
def migrated_database(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The database, brought from empty to the latest revision by the real migrations."""
    from flask_migrate import upgrade

    _reset_schema(database_url)
    app = create_app(base_config(database_url, tmp_path_factory.mktemp("instance")))
    with app.app_context():
        upgrade()
        db.engine.dispose()
    return database_url


def base_config(database_url: str, instance: Path, **overrides: object) -> dict:
    return {
        "DATABASE_URL": database_url,
        "INSTANCE_PATH": str(instance),
        "SECRET_KEY": TEST_SECRET,
        "ISSUER": "http://localhost",
        **CHEAP_ARGON2,
        **overrides,
    }


def _empty_tables() -> None:
    with db.engine.begin() as conn:
        for table in reversed(db.metadata.sorted_tables):
            if table.name != "signing_keys":  # RSA key generation is slow; keys are not test state
                conn.execute(table.delete())


@pytest.fixture
def make_app(migrated_database: str, tmp_path: Path) -> Iterator:
    """Build an app on the test database with extra settings; tables are emptied afterwards."""
    apps: list[Flask] = []

    def factory(**overrides: object) -> Flask:
        app = create_app(base_config(migrated_database, tmp_path / "instance", **overrides))
        app.config["TESTING"] = True
        apps.append(app)
        return app

    yield factory
    for app in apps[:1]:
        with app.app_context():
            db.session.remove()
            _empty_tables()
    for app in apps:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def app(make_app) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def csrf_token(client: FlaskClient, path: str) -> str:
    page = client.get(path)
    match = CSRF_RE.search(page.get_data(as_text=True))
    assert match, f"no CSRF token on {path} ({page.status_code})"
    return match.group(1)


class AuthActions:
    """Register, sign in and out through the real pages, as a browser would."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def register(
        self, username: str = "trader", email: str = "trader@example.com", password: str = PASSWORD
    ):
        token = csrf_token(self.client, "/register")
        return self.client.post(
            "/register",
            data={"username": username, "email": email, "password": password, "csrf_token": token},
        )

    def login(self, login: str = "trader", password: str = PASSWORD, next_url: str | None = None):
        token = csrf_token(self.client, "/login")
        path = "/login" + (f"?next={next_url}" if next_url else "")
        return self.client.post(
            path, data={"login": login, "password": password, "csrf_token": token}
        )

    def logout(self):
        token = csrf_token(self.client, "/logout")
        return self.client.post("/logout", data={"csrf_token": token})


@pytest.fixture
def auth(client: FlaskClient) -> AuthActions:
    return AuthActions(client)


@pytest.fixture
def user(app: Flask):
    """A registered account `trader` with PASSWORD."""
    from idp.services import accounts
    from idp.services.context import Caller
    from idp.storage.unit_of_work import SqlAlchemyUnitOfWork

    with app.app_context():
        created = accounts.register(
            SqlAlchemyUnitOfWork(),
            app.extensions["tessera"].hasher,
            Caller(),
            username="trader",
            email="trader@example.com",
            password=PASSWORD,
        )
        db.session.expunge(created)
        return created


def pytest_report_header(config: pytest.Config) -> str:
    if _postgres_url():
        return "storage tests: SQLite and PostgreSQL (TESSERA_TEST_POSTGRES_URL)"
    return (
        "storage tests: SQLite only; PostgreSQL skipped because TESSERA_TEST_POSTGRES_URL is unset"
    )
