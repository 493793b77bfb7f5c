"""Issue 15, usage: per app per day, tokens issued, active users and token-endpoint errors by
error code, so a developer sees why their app fails."""

from __future__ import annotations

from freezegun import freeze_time
from sqlalchemy import select

from idp.extensions import db
from idp.storage.models import UsageActiveUser, UsageErrorDaily
from tests.conftest import AuthActions
from tests.portal.test_developer_fixtures import create_app_via_portal, signed_in, token_for
from tests.security.conftest import WEB_REDIRECT, App, Flow

BOT = {"name": "Bot", "app_type": "service", "redirect_uris": "", "scopes": ["market:read"]}


def test_errors_by_code_per_day_on_the_usage_page(app):
    with freeze_time("2026-03-01 12:00:00"):
        dev = signed_in(app, "dana")
        client_id, secret = create_app_via_portal(dev, **BOT)
        assert token_for(app, client_id, secret).status_code == 200
        for _ in range(3):
            assert token_for(app, client_id, "wrong").status_code == 401
    with freeze_time("2026-03-02 09:00:00"):
        browser = app.test_client()
        bad_scope = browser.post(
            "/oauth/token",
            data={"grant_type": "client_credentials", "scope": "orders:write"},
            auth=(client_id, secret),
        )
        assert bad_scope.status_code == 400
        unknown = browser.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=("nobody", "x")
        )
        assert unknown.status_code == 401  # no such app: nothing to count it against
        assert AuthActions(dev).login(login="dana").status_code == 303  # a new day, a new session
        page = dev.get(f"/developers/apps/{client_id}/usage").get_data(as_text=True)
    with app.app_context():
        rows = {
            (r.day.isoformat(), r.error): r.count
            for r in db.session.scalars(select(UsageErrorDaily))
        }
    assert rows == {("2026-03-01", "invalid_client"): 3, ("2026-03-02", "invalid_scope"): 1}
    codes = page.split('class="errors-by-code"', 1)[1].split("</table>", 1)[0]
    assert codes.index("invalid_client") < codes.index("invalid_scope")  # most frequent first
    assert "<td>3</td>" in codes and "Wrong or expired client secret" in codes
    days = page.split('class="usage-days"', 1)[1].split("</table>", 1)[0]
    assert "<td>2026-03-01</td>" not in days  # a <time> inside the cell
    assert ">2026-03-01</time></td>\n        <td>1</td>" in days
    assert "<code>invalid_client</code> 3" in days


def test_active_users_per_day(app):
    dev = signed_in(app, "dana")
    client_id, secret = create_app_via_portal(dev, redirect_uris=WEB_REDIRECT)
    web = App(client_id, secret, WEB_REDIRECT)
    Flow(dev).tokens(web, scope="openid profile")
    Flow(dev).tokens(web, scope="openid profile")  # the same user twice: one active user
    page = dev.get(f"/developers/apps/{client_id}/usage").get_data(as_text=True)
    with app.app_context():
        assert len(list(db.session.scalars(select(UsageActiveUser)))) == 1
    days = page.split('class="usage-days"', 1)[1].split("</table>", 1)[0]
    row = days.split("</time></td>", 1)[1].split("</tr>", 1)[0]
    assert "<td>2</td>" in row and "<td>1</td>" in row  # 2 tokens, 1 active user


def test_usage_page_is_linked_and_private(app):
    dev = signed_in(app, "dana")
    client_id, _ = create_app_via_portal(dev, **BOT)
    overview = dev.get(f"/developers/apps/{client_id}").get_data(as_text=True)
    assert f'href="/developers/apps/{client_id}/usage"' in overview
    stranger = signed_in(app, "eve")
    assert stranger.get(f"/developers/apps/{client_id}/usage").status_code == 404


def test_developer_sees_the_suspension_reason_in_the_portal(app):
    from idp.services import apps
    from idp.services.context import Caller
    from idp.storage.unit_of_work import SqlAlchemyUnitOfWork

    dev = signed_in(app, "dana")
    client_id, secret = create_app_via_portal(dev, **BOT)
    with app.app_context():
        uow = SqlAlchemyUnitOfWork()
        apps.suspend(uow, Caller(), uow.clients.by_client_id(client_id), "Scraping order books")
    refused = token_for(app, client_id, secret)
    assert (
        refused.status_code == 400 and "developer portal" in refused.get_json()["error_description"]
    )
    page = dev.get(f"/developers/apps/{client_id}").get_data(as_text=True)
    assert "suspended" in page and "Scraping order books" in page
    usage = dev.get(f"/developers/apps/{client_id}/usage").get_data(as_text=True)
    assert "<code>unauthorized_client</code>" in usage
