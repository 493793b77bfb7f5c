"""Registration, login, logout and password change through the real pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from freezegun import freeze_time
from sqlalchemy import func, select

from idp.extensions import db
from idp.storage.models import AuditEvent, LoginSession, User
from tests.conftest import PASSWORD, csrf_token


def audit_events(app, event: str) -> list[AuditEvent]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent).where(AuditEvent.event == event)))


def test_register_signs_in_and_audits(app, client, auth):
    response = auth.register()
    assert response.status_code == 303
    assert response.headers["Location"] == "/account"
    page = client.get("/account")
    assert page.status_code == 200
    assert "trader@example.com" in page.get_data(as_text=True)
    assert len(audit_events(app, "account.registered")) == 1


def test_register_rejects_common_password_with_message(app, auth):
    response = auth.register(password="password123")
    assert response.status_code == 400
    assert "too common" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count(User.id))) == 0


def test_register_refuses_duplicate_email_case_insensitively(app, auth, user):
    response = auth.register(username="other", email="TRADER@Example.com")
    assert response.status_code == 400
    assert "already exists" in response.get_data(as_text=True)


def test_login_with_email_in_any_case(client, auth, user):
    response = auth.login(login="Trader@EXAMPLE.com")
    assert response.status_code == 303
    assert client.get("/account").status_code == 200


def test_checklist_20_same_answer_for_unknown_account_and_wrong_password(app, auth, user):
    unknown = auth.login(login="nobody", password="whatever-it-is")
    wrong = auth.login(login="trader", password="not the password")
    assert unknown.status_code == wrong.status_code == 401
    assert "Incorrect username or password." in unknown.get_data(as_text=True)
    assert "Incorrect username or password." in wrong.get_data(as_text=True)
    assert len(audit_events(app, "login.failed")) == 2


def test_checklist_20_failed_logins_throttled_per_account(make_app, user):
    app = make_app(LOGIN_ACCOUNT_LIMIT="3/minute", LOGIN_IP_LIMIT="100/minute")
    client = app.test_client()
    from tests.conftest import AuthActions

    actions = AuthActions(client)
    with freeze_time("2026-01-01 12:00:00") as frozen:
        for _ in range(3):
            assert actions.login(password="wrong password!").status_code == 401
        blocked = actions.login()  # even the right password waits
        assert blocked.status_code == 429
        assert int(blocked.headers["Retry-After"]) > 0
        frozen.tick(timedelta(seconds=61))
        assert actions.login().status_code == 303


def test_checklist_20_failed_logins_throttled_per_ip(make_app, user):
    app = make_app(LOGIN_ACCOUNT_LIMIT="100/minute", LOGIN_IP_LIMIT="2/minute")
    from tests.conftest import AuthActions

    actions = AuthActions(app.test_client())
    with freeze_time("2026-01-01 12:00:00"):
        actions.login(login="alice", password="wrong password!")
        actions.login(login="bob", password="wrong password!")
        assert actions.login(login="trader").status_code == 429


def test_checklist_21_new_session_id_at_login(app, client, auth, user):
    auth.login()
    with app.app_context():
        first = set(db.session.scalars(select(LoginSession.id_digest)))
    auth.login()
    with app.app_context():
        second = set(db.session.scalars(select(LoginSession.id_digest)))
    assert len(first) == len(second) == 1
    assert first != second


def test_checklist_21_idle_timeout(app, client, auth, user):
    with freeze_time("2026-01-01 12:00:00") as frozen:
        auth.login()
        frozen.tick(timedelta(seconds=app.extensions["tessera"].settings.SESSION_IDLE_TTL + 1))
        response = client.get("/account")
        assert response.status_code == 303
        assert response.headers["Location"].startswith("/login")


def test_checklist_21_absolute_timeout_despite_activity(app, client, auth, user):
    settings = app.extensions["tessera"].settings
    with freeze_time("2026-01-01 12:00:00") as frozen:
        auth.login()
        elapsed = 0
        while elapsed + 600 < settings.SESSION_ABSOLUTE_TTL:
            frozen.tick(timedelta(seconds=600))
            elapsed += 600
            assert client.get("/account").status_code == 200
        frozen.tick(timedelta(seconds=settings.SESSION_ABSOLUTE_TTL - elapsed + 1))
        assert client.get("/account").status_code == 303


def test_checklist_21_cookie_flags(make_app, user):
    app = make_app(ISSUER="https://id.example.com")
    from tests.conftest import AuthActions

    client = app.test_client()
    response = AuthActions(client).login()
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("__Host-tessera=")
    assert (
        "Secure" in cookie
        and "HttpOnly" in cookie
        and "SameSite=Lax" in cookie
        and "Path=/" in cookie
    )
    assert "Domain" not in cookie


def test_logout_ends_server_side_session(app, client, auth, user):
    auth.login()
    response = auth.logout()
    assert response.status_code == 303
    assert client.get("/account").status_code == 303
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(LoginSession)) == 0


def test_logout_without_csrf_token_is_refused(client, auth, user):
    auth.login()
    response = client.post("/logout", data={})
    assert response.status_code == 400
    assert client.get("/account").status_code == 200


def test_change_password_signs_out_other_devices(app, auth, user):
    from tests.conftest import AuthActions

    other = AuthActions(app.test_client())
    other.login()
    auth.login()
    token = csrf_token(auth.client, "/account")
    response = auth.client.post(
        "/account/password",
        data={
            "current_password": PASSWORD,
            "new_password": "a much longer new passphrase",
            "csrf_token": token,
        },
    )
    assert response.status_code == 303
    assert auth.client.get("/account").status_code == 200
    assert other.client.get("/account").status_code == 303
    assert auth.login(password="a much longer new passphrase").status_code == 303
    assert len(audit_events(app, "password.changed")) == 1


def test_change_password_wrong_current_password(auth, user):
    auth.login()
    token = csrf_token(auth.client, "/account")
    response = auth.client.post(
        "/account/password",
        data={
            "current_password": "wrong one!",
            "new_password": "a much longer new passphrase",
            "csrf_token": token,
        },
    )
    assert response.status_code == 400
    assert "current password is not correct" in response.get_data(as_text=True)


def test_checklist_18_rehash_on_login_when_parameters_change(make_app, user):
    stronger = make_app(ARGON2_TIME_COST=2, ARGON2_MEMORY_COST=16)
    from tests.conftest import AuthActions

    assert AuthActions(stronger.test_client()).login().status_code == 303
    with stronger.app_context():
        stored = db.session.scalar(select(User.password_hash).where(User.username == "trader"))
    assert "$argon2id$" in stored and "m=16,t=2,p=1" in stored


def test_next_parameter_cannot_redirect_off_site(auth, user):
    response = auth.login(next_url="//evil.example/phish")
    assert response.headers["Location"] == "/account"


def test_registrations_are_limited_per_ip(make_app):
    app = make_app(REGISTER_IP_LIMIT="2/hour")
    from tests.conftest import AuthActions

    actions = AuthActions(app.test_client())
    with freeze_time(datetime.now(UTC)) as frozen:
        for i in range(2):
            assert (
                actions.register(username=f"bot{i}", email=f"bot{i}@example.com").status_code == 303
            )
            actions.logout()
        refused = actions.register(username="bot9", email="bot9@example.com")
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
        assert "Too many new accounts" in refused.get_data(as_text=True)
        frozen.tick(timedelta(hours=1, seconds=1))
        assert actions.register(username="bot9", email="bot9@example.com").status_code == 303
    with app.app_context():
        assert db.session.scalar(select(func.count(User.id))) == 3
