"""Admin console: accounts (search, disable, enable, admin role) and the audit log viewer."""

from __future__ import annotations

from datetime import UTC, datetime

import jwt
import pytest
from freezegun import freeze_time

from idp.extensions import db
from idp.services import audit
from idp.services.context import Caller
from idp.storage.models import AuditEvent, Grant, LoginSession, User
from idp.storage.unit_of_work import SqlAlchemyUnitOfWork
from tests.conftest import AuthActions
from tests.integration.test_connected_apps import feed_gids
from tests.portal.test_admin_fixtures import browser_for, events, load, register, token_on, web_app
from tests.security.conftest import Flow


@pytest.fixture
def admin(app):
    return browser_for(app, "root", admin=True)


@pytest.fixture
def trader(app, user) -> int:
    """The id of the account `trader` (the `user` fixture's object is detached and expired)."""
    return load(app, User, username_key="trader").id


def count(app, model, **where) -> int:
    with app.app_context():
        return db.session.query(model).filter_by(**where).count()


def test_user_search_by_username_and_email(app, admin):
    register(app, "dana")
    register(app, "dmitri")
    assert admin.get("/admin/users?q=d").get_data(as_text=True).count("/admin/users/") == 2
    html = admin.get("/admin/users?q=dmitri@example").get_data(as_text=True)
    assert "dmitri" in html and "dana" not in html
    assert "No account matches" in admin.get("/admin/users?q=zz").get_data(as_text=True)


def test_disable_user_ends_sessions_and_revokes_grants(app, admin, trader):
    helper = web_app(app, None)
    browser = app.test_client()
    assert AuthActions(browser).login().status_code == 303
    flow = Flow(browser)
    tokens = flow.tokens(helper, scope="openid offline_access orders:read")
    gid = jwt.decode(tokens["access_token"], options={"verify_signature": False})["gid"]
    assert count(app, LoginSession, user_id=trader) == 1
    token = token_on(admin, f"/admin/users/{trader}")
    response = admin.post(
        f"/admin/users/{trader}/disable", data={"csrf_token": token, "reason": "Fraud report"}
    )
    assert response.status_code == 303
    assert "1 app authorization(s) revoked" in admin.get(response.headers["Location"]).get_data(
        as_text=True
    )
    assert load(app, User, id=trader).disabled_at is not None
    assert count(app, LoginSession, user_id=trader) == 0
    assert browser.get("/account").status_code == 303  # signed out: sent to the login page
    assert load(app, Grant, gid=gid).revoked_at is not None
    refused = flow.refresh(helper, tokens["refresh_token"])
    assert refused.status_code == 400 and refused.get_json()["error"] == "invalid_grant"
    assert gid in feed_gids(app, admin)
    (event,) = events(app, "admin.user_disabled")
    assert event.data["target_user_id"] == trader and event.data["reason"] == "Fraud report"
    assert event.data["grants_revoked"] == 1
    again = AuthActions(app.test_client()).login()  # cannot sign in again, and is told why
    assert again.status_code == 403
    assert "This account is disabled." in again.get_data(as_text=True)


def test_disable_needs_a_reason_and_never_yourself(app, admin, trader):
    token = token_on(admin, f"/admin/users/{trader}")
    response = admin.post(f"/admin/users/{trader}/disable", data={"csrf_token": token})
    assert response.status_code == 400 and "Give a reason." in response.get_data(as_text=True)
    assert load(app, User, id=trader).disabled_at is None
    me = load(app, User, username_key="root")
    own = admin.post(
        f"/admin/users/{me.id}/disable", data={"csrf_token": token, "reason": "testing"}
    )
    assert own.status_code == 400
    assert "cannot disable your own account" in own.get_data(as_text=True)
    assert events(app, "admin.user_disabled") == []
    assert admin.get("/admin/users/999999").status_code == 404


def test_enable_user_lets_them_sign_in_again(app, admin, trader):
    token = token_on(admin, f"/admin/users/{trader}")
    admin.post(f"/admin/users/{trader}/disable", data={"csrf_token": token, "reason": "Check"})
    response = admin.post(f"/admin/users/{trader}/enable", data={"csrf_token": token})
    assert response.status_code == 303
    assert load(app, User, id=trader).disabled_at is None
    assert len(events(app, "admin.user_enabled")) == 1
    assert AuthActions(app.test_client()).login().status_code == 303
    again = admin.post(f"/admin/users/{trader}/enable", data={"csrf_token": token})
    assert "This account is not disabled." in admin.get(again.headers["Location"]).get_data(
        as_text=True
    )


def test_make_admin_and_remove_it_but_not_from_yourself(app, admin, trader):
    token = token_on(admin, f"/admin/users/{trader}")
    path = f"/admin/users/{trader}/admin"
    assert admin.post(path, data={"csrf_token": token, "admin": "1"}).status_code == 303
    assert load(app, User, id=trader).is_admin is True
    browser = app.test_client()
    assert AuthActions(browser).login().status_code == 303
    assert browser.get("/admin/requests").status_code == 200
    assert admin.post(path, data={"csrf_token": token, "admin": "0"}).status_code == 303
    assert browser.get("/admin/requests").status_code == 404
    assert [e.event for e in events(app, "admin.admin_granted")] == ["admin.admin_granted"]
    assert len(events(app, "admin.admin_removed")) == 1
    me = load(app, User, username_key="root")
    admin.post(f"/admin/users/{me.id}/admin", data={"csrf_token": token, "admin": "0"})
    assert load(app, User, id=me.id).is_admin is True
    assert admin.post(path, data={"csrf_token": token, "admin": "yes"}).status_code == 400


def _event(app, name: str, at: datetime, user_id=None, client_id=None) -> None:
    with app.app_context(), freeze_time(at):
        uow = SqlAlchemyUnitOfWork()
        audit.record(uow, name, Caller(), user_id=user_id, client_id=client_id, note="x")
        uow.commit()


def test_audit_log_filters_by_event_user_app_and_time(app, admin, trader):
    _event(app, "test.alpha", datetime(2025, 1, 10, 12, tzinfo=UTC), user_id=trader)
    _event(app, "test.alpha", datetime(2025, 2, 10, 12, tzinfo=UTC), client_id="app-one")
    _event(app, "test.beta", datetime(2025, 3, 10, 12, tzinfo=UTC), client_id="app-one")
    page = admin.get("/admin/audit?event=test.alpha").get_data(as_text=True)
    assert page.count("<code>test.alpha</code>") == 2 and "<code>test.beta</code>" not in page
    assert '<option value="test.beta">' in page  # known events in the drop-down
    by_user = admin.get("/admin/audit?user=trader").get_data(as_text=True)
    assert "<code>test.alpha</code>" in by_user and "2025-01-10" in by_user
    assert "2025-02-10" not in by_user
    by_app = admin.get("/admin/audit?app=app-one").get_data(as_text=True)
    assert by_app.count("<code>app-one</code>") == 2
    ranged = admin.get("/admin/audit?since=2025-02-01&until=2025-02-28").get_data(as_text=True)
    assert "2025-02-10" in ranged and "2025-01-10" not in ranged and "2025-03-10" not in ranged
    to_minute = admin.get("/admin/audit?since=2025-03-10T11:59&until=2025-03-10T12:01")
    assert "<code>test.beta</code>" in to_minute.get_data(as_text=True)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("user=nobody", "No account has the username"),
        ("since=yesterday", "Use a date such as"),
        ("since=2025-02-01&until=2025-01-01", "must come after its start"),
        ("page=0", "whole number"),
        ("page=abc", "whole number"),
    ],
)
def test_audit_log_bad_filters_are_explained(admin, query, message):
    response = admin.get(f"/admin/audit?{query}")
    assert response.status_code == 400 and message in response.get_data(as_text=True)


def test_audit_log_paginates_50_a_page(app, admin):
    with app.app_context():
        base = datetime(2025, 5, 1, tzinfo=UTC)
        for i in range(60):
            db.session.add(
                AuditEvent(event="test.page", at=base.replace(minute=i % 60, second=i // 60))
            )
        db.session.commit()
    first = admin.get("/admin/audit?event=test.page").get_data(as_text=True)
    assert first.count("<code>test.page</code>") == 50
    assert 'href="/admin/audit?event=test.page&amp;page=2"' in first
    assert 'rel="prev"' not in first
    second = admin.get("/admin/audit?event=test.page&page=2").get_data(as_text=True)
    assert second.count("<code>test.page</code>") == 10
    assert 'rel="next"' not in second and 'rel="prev"' in second


def test_every_admin_action_is_in_the_audit_log_viewer(app, admin, trader):
    token = token_on(admin, f"/admin/users/{trader}")
    admin.post(f"/admin/users/{trader}/admin", data={"csrf_token": token, "admin": "1"})
    html = admin.get("/admin/audit?event=admin.admin_granted").get_data(as_text=True)
    assert "<code>admin.admin_granted</code>" in html and "target_username" in html


@pytest.mark.parametrize(
    "path",
    [
        "/admin/users?q=%00%FF",
        "/admin/apps?q=%00x",
        "/admin/audit?user=%00&app=%00&event=%00&since=%00",
        "/admin/audit?since=2025-13-45T99:99",
        "/admin/requests?status=%00",
    ],
)
def test_admin_pages_answer_junk_queries_without_a_500(admin, path):
    assert admin.get(path).status_code < 500
