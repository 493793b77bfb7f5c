"""Database faults answer 503 with Retry-After, never 500 (issue 11 part 4; docs/operations.md).

Through Flask's test client against a throwaway PostgreSQL cluster (tests.faults.conftest) that
the tests stop and start: every surface answers its own 503 shape while the database is away,
client_credentials rides the outage from the app cache within TESSERA_OUTAGE_CLIENT_CACHE_GRACE,
and the first requests after the restart succeed. A statement held past
TESSERA_DB_STATEMENT_TIMEOUT by another connection's row lock is a 503 too, and leaves nothing
half-written.
"""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime

import psycopg
import pytest
import sqlalchemy as sa
from freezegun import freeze_time

from idp.extensions import db
from idp.services import apps
from tests.conftest import PASSWORD, AuthActions, csrf_token
from tests.security.conftest import WEB_REDIRECT, App, Flow, pkce_pair, register_app

OUTAGE_SETTINGS = {"CLIENT_CACHE_TTL": 5, "OUTAGE_CLIENT_CACHE_GRACE": 60, "DB_CONNECT_TIMEOUT": 2}


def assert_unavailable_json(response) -> None:
    assert response.status_code == 503, response.get_data(as_text=True)
    assert int(response.headers["Retry-After"]) > 0
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["error"] == "temporarily_unavailable"
    assert "try again" in body["error_description"]


def assert_unavailable_page(response) -> None:
    assert response.status_code == 503, response.get_data(as_text=True)[:500]
    assert int(response.headers["Retry-After"]) > 0
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "Temporarily unavailable" in page and "try again" in page
    assert "Traceback" not in page and "psycopg" not in page


def client_credentials(client, app: App):
    return client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, headers=app.basic()
    )


def code_grant(client, app: App, **data: str):
    return client.post("/oauth/token", data=data, headers=app.basic())


def register_apps(app) -> tuple[App, App, App]:
    """A bot (client_credentials), a web app (code + refresh), a resource server (the feed)."""
    service = register_app(
        app, apps.ClientSpec(name="Price Bot", app_type="service", scopes=["market:read"])
    )
    web = register_app(
        app,
        apps.ClientSpec(
            name="Trade Helper",
            app_type="web",
            redirect_uris=[WEB_REDIRECT],
            scopes=["openid", "offline_access", "orders:read"],
        ),
    )
    feed_reader = register_app(
        app,
        apps.ClientSpec(name="Market API", app_type="service", scopes=["revocations:read"]),
    )
    return service, web, feed_reader


def authorize_query(app: App) -> dict[str, str]:
    return {
        "response_type": "code",
        "client_id": app.client_id,
        "redirect_uri": app.redirect_uri,
        "scope": "openid",
        "state": "s",
        "code_challenge": pkce_pair()[1],
        "code_challenge_method": "S256",
    }


def refresh(client, app: App, token: str = "not-a-refresh-token"):
    return code_grant(client, app, grant_type="refresh_token", refresh_token=token)


def test_outage_answers_503_everywhere_and_cached_apps_keep_their_tokens(
    make_fault_app, running_cluster
):
    app = make_fault_app(**OUTAGE_SETTINGS)
    service, web, feed_reader = register_apps(app)
    browser, anonymous, machine = app.test_client(), app.test_client(), app.test_client()
    auth = AuthActions(browser)
    auth.register()
    assert auth.login().status_code == 303
    login_form = {"login": "trader", "password": PASSWORD}
    login_form["csrf_token"] = csrf_token(anonymous, "/login")

    with freeze_time(datetime.now(UTC)) as clock:
        issued = client_credentials(machine, service)
        assert issued.status_code == 200
        bearer = {"Authorization": f"Bearer {issued.get_json()['access_token']}"}
        # The other apps' policies are cached too: what fails below is the database, not them.
        assert refresh(machine, web).status_code == 400
        assert machine.get("/oauth/revocations", headers=feed_reader.basic()).status_code == 200

        running_cluster.stop()
        clock.tick(10)  # past TESSERA_CLIENT_CACHE_TTL, within the grace
        assert client_credentials(machine, service).status_code == 200
        assert_unavailable_json(refresh(machine, web))
        code = {"code": "c", "redirect_uri": WEB_REDIRECT, "code_verifier": "v" * 43}
        assert_unavailable_json(code_grant(machine, web, grant_type="authorization_code", **code))
        revoke = machine.post("/oauth/revoke", data={"token": "t"}, headers=web.basic())
        assert_unavailable_json(revoke)
        assert_unavailable_json(machine.get("/oauth/userinfo", headers=bearer))
        assert_unavailable_json(machine.get("/api/v1/apps", headers=bearer))
        assert_unavailable_json(machine.get("/oauth/revocations", headers=feed_reader.basic()))
        assert_unavailable_json(machine.get("/healthz"))
        assert machine.get("/jwks.json").status_code == 200  # signing keys are kept in memory
        assert machine.get("/.well-known/openid-configuration").status_code == 200
        assert_unavailable_page(browser.get("/account"))
        assert_unavailable_page(browser.get("/developers"))
        assert_unavailable_page(browser.get("/oauth/authorize", query_string=authorize_query(web)))
        assert_unavailable_page(anonymous.post("/login", data=login_form))

        clock.tick(60)  # past the grace: the cached copy is too old to vouch for the app
        assert_unavailable_json(client_credentials(machine, service))
        assert machine.get("/jwks.json").status_code == 200  # its reload failed: the keys stay

        running_cluster.start()
        assert client_credentials(machine, service).status_code == 200
        assert browser.get("/account").status_code == 200
        assert refresh(machine, web).status_code == 400
        assert machine.get("/oauth/userinfo", headers=bearer).status_code == 403  # no openid scope
        assert machine.get("/healthz").status_code == 200


def test_statement_past_the_timeout_is_503_and_rolled_back(make_fault_app, running_cluster):
    app = make_fault_app(DB_STATEMENT_TIMEOUT=500)
    AuthActions(app.test_client()).register()
    browser = app.test_client()
    form = {"login": "trader", "password": PASSWORD, "csrf_token": csrf_token(browser, "/login")}
    engine = sa.create_engine(running_cluster.url)

    def rows(table: str) -> int:
        with engine.connect() as conn:
            return conn.execute(
                sa.select(sa.func.count()).select_from(sa.table(table))
            ).scalar_one()

    sessions, audit = rows("login_sessions"), rows("audit_events")
    with psycopg.connect(running_cluster.url.replace("+psycopg", "")) as locker:
        # A login inserts a session row whose foreign key must share-lock the user's row.
        locker.execute("SELECT id FROM users WHERE username = 'trader' FOR UPDATE")
        started = time.monotonic()
        response = browser.post("/login", data=form)
        elapsed = time.monotonic() - started
        assert_unavailable_page(response)
        assert elapsed < 5, f"answered after {elapsed:.1f} s"
    assert (rows("login_sessions"), rows("audit_events")) == (
        sessions,
        audit,
    )  # nothing half-written
    assert browser.post("/login", data=form).status_code == 303  # the same thread, a clean session
    assert rows("login_sessions") == sessions + 1
    engine.dispose()


def test_a_refresh_held_past_the_statement_timeout_is_503_and_rotates_nothing(
    make_fault_app, running_cluster
):
    app = make_fault_app(DB_STATEMENT_TIMEOUT=500)
    _service, web, _feed_reader = register_apps(app)
    browser = app.test_client()
    auth = AuthActions(browser)
    auth.register()
    assert auth.login().status_code == 303
    flow = Flow(browser)
    refresh_token = flow.tokens(web, scope="openid offline_access")["refresh_token"]
    with psycopg.connect(running_cluster.url.replace("+psycopg", "")) as locker:
        # Rotation updates the token's row, which another transaction holds.
        locker.execute("SELECT id FROM refresh_tokens FOR UPDATE")
        started = time.monotonic()
        response = flow.refresh(web, refresh_token)
        elapsed = time.monotonic() - started
        assert_unavailable_json(response)
        assert elapsed < 5, f"answered after {elapsed:.1f} s"
    renewed = flow.refresh(web, refresh_token)  # the failed attempt rotated nothing
    assert renewed.status_code == 200, renewed.get_json()
    assert renewed.get_json()["refresh_token"] != refresh_token


def test_sqlite_write_lock_past_the_busy_timeout_is_503_and_rolled_back(make_app, backend):
    if backend != "sqlite":
        pytest.skip("PostgreSQL: test_statement_past_the_timeout_is_503_and_rolled_back")
    app = make_app(DB_STATEMENT_TIMEOUT=300)
    AuthActions(app.test_client()).register()
    browser = app.test_client()
    form = {"login": "trader", "password": PASSWORD, "csrf_token": csrf_token(browser, "/login")}
    path = app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")
    locker = sqlite3.connect(path, isolation_level=None)
    try:
        before = locker.execute("SELECT count(*) FROM login_sessions").fetchone()[0]
        locker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        started = time.monotonic()
        assert_unavailable_page(browser.post("/login", data=form))
        assert time.monotonic() - started < 5
        locker.execute("ROLLBACK")
        assert locker.execute("SELECT count(*) FROM login_sessions").fetchone()[0] == before
        assert browser.post("/login", data=form).status_code == 303
        assert locker.execute("SELECT count(*) FROM login_sessions").fetchone()[0] == before + 1
    finally:
        locker.close()


@pytest.mark.parametrize("committed_first", [False, True], ids=["reading", "after-a-commit"])
def test_the_database_going_away_mid_request_is_503_for_a_signed_in_user(
    make_fault_app, running_cluster, committed_first
):
    """The error page is drawn after the rollback: its menu must not need the database (after
    a commit the signed-in user is expired, and the page is drawn as for a visitor)."""
    app = make_fault_app()

    def stops_the_database_then_reads():
        if committed_first:
            db.session.commit()
        running_cluster.stop()
        db.session.execute(sa.text("SELECT 1"))
        return "unreachable"

    app.add_url_rule("/test-only/outage", view_func=stops_the_database_then_reads)
    browser = app.test_client()
    auth = AuthActions(browser)
    auth.register()
    assert auth.login().status_code == 303
    page = browser.get("/test-only/outage")
    assert_unavailable_page(page)
    assert ("Sign out" in page.get_data(as_text=True)) is not committed_first
    running_cluster.start()
    assert browser.get("/account").status_code == 200
