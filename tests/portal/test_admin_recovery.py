"""Admin "send reset link" and "force password change at next sign-in", and the CLI's
`tessera users reset-password` (issue 13); every action audited."""

from __future__ import annotations

import pytest

from idp.storage.models import AuditEvent, LoginSession, User
from tests.conftest import PASSWORD, AuthActions, csrf_token
from tests.mail_helpers import outbox, path_of
from tests.portal.test_admin_fixtures import browser_for, load, token_on
from tests.portal.test_admin_users import count

NEW_PASSWORD = "a brand new passphrase for trader"


@pytest.fixture
def admin(app):
    return browser_for(app, "root", admin=True)


@pytest.fixture
def trader(app, user) -> int:
    return load(app, User, username_key="trader").id


def test_admin_sends_a_reset_link_by_mail(app, admin, trader):
    token = token_on(admin, f"/admin/users/{trader}")
    answer = admin.post(f"/admin/users/{trader}/reset-link", data={"csrf_token": token})
    assert answer.status_code == 303
    page = admin.get(answer.headers["Location"]).get_data(as_text=True)
    assert "A password reset link was mailed to trader@example.com" in page
    [mail] = outbox(app)
    assert mail.template == "password_reset_admin" and mail.to_address == "trader@example.com"
    assert load(app, AuditEvent, event="admin.password_reset_sent").data["target_user_id"] == trader


def test_admin_actions_need_the_csrf_token(app, admin, trader):
    assert admin.post(f"/admin/users/{trader}/reset-link").status_code == 400
    assert admin.post(f"/admin/users/{trader}/force-password-change").status_code == 400
    assert outbox(app) == [] and load(app, User, id=trader).must_change_password is False


def test_forced_change_signs_out_and_comes_before_anything_else(app, admin, trader):
    browser = app.test_client()
    assert AuthActions(browser).login().status_code == 303
    token = token_on(admin, f"/admin/users/{trader}")
    answer = admin.post(f"/admin/users/{trader}/force-password-change", data={"csrf_token": token})
    assert answer.status_code == 303
    assert count(app, LoginSession, user_id=trader) == 0
    assert load(app, AuditEvent, event="admin.password_change_forced") is not None
    assert browser.get("/account").status_code == 303  # signed out

    signed_in = AuthActions(browser).login(next_url="/account/apps")
    assert signed_in.status_code == 303
    for path in ("/account", "/account/apps", "/oauth/authorize?client_id=x"):
        page = browser.get(path)
        assert page.status_code == 303 and "/password/change-required" in page.headers["Location"]
    form = "/password/change-required?next=/account/apps"
    same = browser.post(form, data={"password": PASSWORD, "csrf_token": csrf_token(browser, form)})
    assert same.status_code == 400 and "different" in same.get_data(as_text=True)
    done = browser.post(
        form, data={"password": NEW_PASSWORD, "csrf_token": csrf_token(browser, form)}
    )
    assert done.status_code == 303 and done.headers["Location"] == "/account/apps"
    assert browser.get("/account").status_code == 200
    assert load(app, User, id=trader).must_change_password is False


def test_admin_cannot_force_their_own_change(app, admin):
    me = load(app, User, username_key="root").id
    token = token_on(admin, f"/admin/users/{me}")
    answer = admin.post(f"/admin/users/{me}/force-password-change", data={"csrf_token": token})
    assert "from your account page" in admin.get(answer.headers["Location"]).get_data(as_text=True)


def test_cli_reset_password_prints_a_one_time_link(app, user):
    result = app.test_cli_runner().invoke(args=["users", "reset-password", "trader"])
    assert result.exit_code == 0, result.output
    link = result.output.strip().splitlines()[-1]
    assert link.startswith("http://localhost/password/reset/")
    assert outbox(app) == []  # printed, not mailed
    client = app.test_client()
    data = {"password": NEW_PASSWORD, "csrf_token": csrf_token(client, path_of(link))}
    assert client.post(path_of(link), data=data).status_code == 303
    assert client.get(path_of(link)).status_code == 400
    assert load(app, AuditEvent, event="operator.password_reset_link") is not None
    missing = app.test_cli_runner().invoke(args=["users", "reset-password", "nobody"])
    assert missing.exit_code == 1 and "no account named 'nobody'" in missing.output
