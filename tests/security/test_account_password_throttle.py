"""Issue 12 item 14: /account/password guesses are throttled like logins (docs/security.md#20,
ASVS 6.3.1): per account and per IP, the same counters, the same 429 answer, in the audit log."""

from __future__ import annotations

from freezegun import freeze_time
from sqlalchemy import select

from idp.extensions import db
from idp.storage.models import AuditEvent
from tests.conftest import PASSWORD, AuthActions, csrf_token

NEW = "a much longer new passphrase"


def _change(actions: AuthActions, current: str):
    token = csrf_token(actions.client, "/account")
    return actions.client.post(
        "/account/password",
        data={"current_password": current, "new_password": NEW, "csrf_token": token},
    )


def _events(app, kind: str) -> list:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent).where(AuditEvent.event == kind)))


def test_checklist_20_password_change_throttled_per_account(make_app, user):
    app = make_app(LOGIN_ACCOUNT_LIMIT="3/minute", LOGIN_IP_LIMIT="100/minute")
    actions = AuthActions(app.test_client())
    with freeze_time("2026-01-01 12:00:00") as frozen:
        assert actions.login().status_code == 303
        for _ in range(3):
            assert _change(actions, "wrong one!").status_code == 400
        blocked = _change(actions, PASSWORD)  # even the right password waits
        assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0
        assert "Too many failed attempts" in blocked.get_data(as_text=True)
        frozen.tick(61)
        assert _change(actions, PASSWORD).status_code == 303
    assert len(_events(app, "password.change_failed")) == 3
    assert len(_events(app, "password.change_throttled")) == 1


def test_checklist_20_password_change_guesses_count_as_login_failures(make_app, user):
    """One budget of guesses per account: the password form is not a second door."""
    app = make_app(LOGIN_ACCOUNT_LIMIT="3/minute", LOGIN_IP_LIMIT="100/minute")
    actions = AuthActions(app.test_client())
    with freeze_time("2026-01-01 12:00:00"):
        assert actions.login().status_code == 303
        for _ in range(3):
            _change(actions, "wrong one!")
        assert AuthActions(app.test_client()).login().status_code == 429


def test_checklist_20_password_change_throttled_per_ip(make_app, user):
    app = make_app(LOGIN_ACCOUNT_LIMIT="100/minute", LOGIN_IP_LIMIT="2/minute")
    actions = AuthActions(app.test_client())
    with freeze_time("2026-01-01 12:00:00"):
        assert actions.login().status_code == 303
        for _ in range(2):
            assert _change(actions, "wrong one!").status_code == 400
        assert _change(actions, PASSWORD).status_code == 429
