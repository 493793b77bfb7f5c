"""The rules behind the 503s, without stopping a database: what counts as an outage, the
timeouts every connection carries, and when the app cache may vouch for an app past its TTL."""

from __future__ import annotations

import sqlite3

import psycopg
import pytest
from freezegun import freeze_time
from sqlalchemy import exc as sa_exc

from idp.app import engine_options
from idp.config import ConfigError, load_settings
from idp.domain.clients import ClientPolicy
from idp.storage.client_cache import ClientPolicyCache
from idp.storage.outage import DESCRIPTION, is_outage, unavailable
from tests.conftest import TEST_SECRET


def _wrapped(kind: type[sa_exc.DBAPIError], orig: Exception) -> sa_exc.DBAPIError:
    return kind("SELECT 1", {}, orig)


OUTAGES = {
    "refused": _wrapped(sa_exc.OperationalError, psycopg.OperationalError("Connection refused")),
    "statement timeout": _wrapped(
        sa_exc.OperationalError, psycopg.errors.QueryCanceled("canceling statement")
    ),
    "shutdown": _wrapped(sa_exc.OperationalError, psycopg.errors.AdminShutdown("terminating")),
    "sqlite busy": _wrapped(
        sa_exc.OperationalError, sqlite3.OperationalError("database is locked")
    ),
    "closed": _wrapped(sa_exc.InterfaceError, psycopg.InterfaceError("the connection is closed")),
    "disconnect": sa_exc.DisconnectionError("connection lost"),
    "pool timeout": sa_exc.TimeoutError("QueuePool limit of size 5 overflow 10 reached"),
}
BUGS = {
    "duplicate": _wrapped(sa_exc.IntegrityError, psycopg.errors.UniqueViolation("duplicate key")),
    "missing table": _wrapped(sa_exc.ProgrammingError, psycopg.errors.UndefinedTable("users")),
    "sqlite missing table": _wrapped(
        sa_exc.OperationalError, sqlite3.OperationalError("no such table: users")
    ),
    "not rolled back": sa_exc.PendingRollbackError("roll back first"),
    "not the database": ValueError("bad"),
}


@pytest.mark.parametrize("exc", OUTAGES.values(), ids=OUTAGES.keys())
def test_outages_become_503_with_a_safe_message(exc):
    assert is_outage(exc)
    refused = unavailable(exc, "GET /test")
    assert (refused.status_code, refused.error) == (503, "temporarily_unavailable")
    assert refused.retry_after > 0
    assert refused.description == DESCRIPTION  # the driver's words stay in the log
    assert refused.detail and type(getattr(exc, "orig", exc)).__name__ in refused.detail


@pytest.mark.parametrize("exc", BUGS.values(), ids=BUGS.keys())
def test_bugs_are_not_outages(exc):
    assert not is_outage(exc)
    assert unavailable(exc) is None


def _settings(**overrides):
    return load_settings({"SECRET_KEY": TEST_SECRET, **overrides}, environ={})


def test_postgresql_connections_carry_the_statement_and_connect_timeouts():
    options = engine_options(
        _settings(
            DATABASE_URL="postgresql://u@db/tessera",
            DB_STATEMENT_TIMEOUT=2500,
            DB_CONNECT_TIMEOUT=4,
        )
    )
    assert options == {
        "pool_pre_ping": True,
        "pool_timeout": 4,
        "connect_args": {"connect_timeout": 4, "options": "-c statement_timeout=2500"},
    }
    off = engine_options(_settings(DATABASE_URL="postgresql://u@db/t", DB_STATEMENT_TIMEOUT=0))
    assert "options" not in off["connect_args"]


def test_sqlite_waits_on_a_lock_no_longer_than_the_statement_timeout(tmp_path):
    url = f"sqlite:///{tmp_path}/t.db"
    assert engine_options(_settings(DATABASE_URL=url, DB_STATEMENT_TIMEOUT=1500)) == {
        "connect_args": {"timeout": 1.5}
    }


@pytest.mark.parametrize(
    "setting, value",
    [
        ("DB_STATEMENT_TIMEOUT", "ten"),
        ("DB_STATEMENT_TIMEOUT", "-1"),
        ("DB_CONNECT_TIMEOUT", "1"),
        ("OUTAGE_CLIENT_CACHE_GRACE", "3601"),
    ],
)
def test_bad_outage_settings_stop_start_up(setting, value):
    with pytest.raises(ConfigError, match=f"TESSERA_{setting}"):
        load_settings({"SECRET_KEY": TEST_SECRET}, environ={f"TESSERA_{setting}": value})


POLICY = ClientPolicy(
    pk=1,
    client_id="bot",
    name="Bot",
    app_type="service",
    redirect_uris=(),
    post_logout_redirect_uris=(),
    grant_types=("client_credentials",),
    allowed_scopes=("market:read",),
    tier="free",
    custom_rps=None,
    custom_burst=None,
    require_pkce=False,
    access_token_ttl=None,
    refresh_token_ttl=None,
    suspended=False,
)


class Loader:
    """The database's answer, or the error it fails with."""

    def __init__(self) -> None:
        self.failure: Exception | None = None
        self.calls = 0

    def __call__(self, client_id: str) -> ClientPolicy | None:
        self.calls += 1
        if self.failure is not None:
            raise self.failure
        return POLICY if client_id == "bot" else None


def test_the_cache_vouches_for_a_known_app_within_the_grace_and_only_for_an_outage(app):
    loader = Loader()
    cache = ClientPolicyCache(5, loader, outage_grace=60)
    with app.app_context(), freeze_time("2026-01-01 12:00:00") as clock:
        assert cache.get("bot") is POLICY and loader.calls == 1
        clock.tick(10)
        loader.failure = BUGS["missing table"]
        with pytest.raises(sa_exc.ProgrammingError):  # a bug is never hidden by the cache
            cache.get("bot")
        loader.failure = OUTAGES["refused"]
        assert cache.get("bot") is POLICY  # past the TTL, within the grace
        calls = loader.calls
        assert cache.get("bot") is POLICY and loader.calls == calls  # no new attempt at once
        with pytest.raises(sa_exc.OperationalError):  # a secret to re-check: never the copy
            cache.get("bot", fresh=True)
        with pytest.raises(sa_exc.OperationalError):  # an app it never read
            cache.get("stranger")
        clock.tick(51)
        with pytest.raises(sa_exc.OperationalError):  # past the grace
            cache.get("bot")


def test_an_invalidated_app_is_not_served_from_the_cache_during_an_outage(app):
    loader = Loader()
    cache = ClientPolicyCache(5, loader, outage_grace=60)
    with app.app_context(), freeze_time("2026-01-01 12:00:00") as clock:
        cache.get("bot")
        cache.invalidate({"bot"})  # e.g. suspended just before the outage
        clock.tick(1)
        loader.failure = OUTAGES["refused"]
        with pytest.raises(sa_exc.OperationalError):
            cache.get("bot")


def test_an_outage_after_the_view_is_503_too(app):
    """Flask hands an error raised after the view (an after_request hook) to the 500 handler."""

    @app.after_request
    def touch_the_database(response):
        raise OUTAGES["refused"]

    app.config["PROPAGATE_EXCEPTIONS"] = False  # as in production: TESTING re-raises instead
    response = app.test_client().get("/login")
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert "Temporarily unavailable" in response.get_data(as_text=True)
