"""Issue 15, rough edges: the access-request forms offer only what can be asked for, and the
tier history says where an app came from."""

from __future__ import annotations

import re

import pytest

from idp.errors import FieldErrors
from idp.services import access_requests
from idp.services.context import Caller
from idp.storage.unit_of_work import SqlAlchemyUnitOfWork
from tests.conftest import csrf_token
from tests.portal.test_admin_fixtures import (
    ask_for_scopes,
    ask_for_tier,
    browser_for,
    register,
    token_on,
    web_app,
)

OPTION = re.compile(r'<input[^>]+name="(s-scopes|t-tier)"[^>]+value="([^"]+)"')


def offered(page: str, name: str) -> list[str]:
    """The values the form offers for `name` (checkboxes or select options)."""
    if name == "t-tier":
        select = page.split('name="t-tier"', 1)[1].split("</select>", 1)[0]
        return re.findall(r'<option[^>]*value="([^"]+)"', select)
    return [v for n, v in OPTION.findall(page) if n == name]


@pytest.fixture
def owned(app):
    """A web app owned by a signed-in developer: (browser, client_id, owner id)."""
    browser = browser_for(app, "dana")
    with app.app_context():
        owner_id = SqlAlchemyUnitOfWork().users.by_login("dana").id
    return browser, web_app(app, owner_id).client_id, owner_id


def test_scope_form_hides_scopes_already_pending(app, owned):
    browser, client_id, owner_id = owned
    page = browser.get(f"/developers/apps/{client_id}/access").get_data(as_text=True)
    assert "orders:write" in offered(page, "s-scopes")
    ask_for_scopes(app, client_id, owner_id, ["orders:write"])
    page = browser.get(f"/developers/apps/{client_id}/access").get_data(as_text=True)
    assert "orders:write" not in offered(page, "s-scopes")
    assert "Waiting for an admin: orders:write." in page
    # Asked again anyway (an old form): refused, nothing filed twice.
    response = browser.post(
        f"/developers/apps/{client_id}/access",
        data={"s-csrf_token": csrf_token(browser, "/developers/apps/new"),
              "kind": "scopes", "s-scopes": ["orders:write"],
              "s-justification": "The app places orders for its users."},
    )  # fmt: skip
    assert response.status_code == 400


def test_scope_form_offers_only_what_the_app_type_may_hold(app):
    browser = browser_for(app, "sam")
    from tests.portal.test_developer_fixtures import create_app_via_portal

    client_id, _ = create_app_via_portal(
        browser, app_type="service", redirect_uris="", scopes=["market:read"], name="Bot"
    )
    page = browser.get(f"/developers/apps/{client_id}/access").get_data(as_text=True)
    user_scopes = {"orders:write", "chat:read", "chat:write"}
    assert user_scopes.isdisjoint(offered(page, "s-scopes"))


def test_tier_form_offers_only_higher_tiers(app, owned):
    browser, client_id, owner_id = owned
    page = browser.get(f"/developers/apps/{client_id}/access").get_data(as_text=True)
    assert offered(page, "t-tier") == ["verified", "partner"]
    admin = browser_for(app, "root", admin=True)
    request_id = ask_for_tier(app, client_id, owner_id, "verified")
    page = browser.get(f"/developers/apps/{client_id}/access").get_data(as_text=True)
    assert 'id="tier-waiting"' in page and 'name="t-tier"' not in page
    admin.post(
        f"/admin/requests/{request_id}/decide",
        data={"csrf_token": token_on(admin, "/admin/requests"), "decision": "approve"},
    )
    page = browser.get(f"/developers/apps/{client_id}/access").get_data(as_text=True)
    assert offered(page, "t-tier") == ["partner"]


def test_asking_for_a_lower_tier_is_refused(app, owned):
    _browser, client_id, owner_id = owned
    request_id = ask_for_tier(app, client_id, owner_id, "partner")
    admin_id = register(app, "root", admin=True)
    with app.app_context():
        uow = SqlAlchemyUnitOfWork()
        catalogue = app.extensions["tessera"].catalogue
        access_requests.approve(uow, Caller(), admin_id, request_id, catalogue=catalogue)
        with pytest.raises(FieldErrors, match="above the app's current one"):
            access_requests.request_tier(
                uow, catalogue, Caller(), uow.clients.by_client_id(client_id), owner_id,
                "verified", "We would like fewer requests per second, oddly.",
            )  # fmt: skip


def test_approved_tab_shows_the_tier_the_app_came_from(app, owned):
    browser, client_id, owner_id = owned
    admin = browser_for(app, "root", admin=True)
    request_id = ask_for_tier(app, client_id, owner_id, "partner")
    pending = admin.get("/admin/requests").get_data(as_text=True)
    assert "From <strong>default</strong> to <strong>partner</strong>" in pending
    response = admin.post(
        f"/admin/requests/{request_id}/decide",
        data={"csrf_token": token_on(admin, "/admin/requests"), "decision": "approve"},
    )
    assert response.status_code == 303
    approved = admin.get("/admin/requests?status=approved").get_data(as_text=True)
    assert "From <strong>default</strong> to <strong>partner</strong>" in approved
    assert "From <strong>partner</strong> to <strong>partner</strong>" not in approved
    mine = browser.get(f"/developers/apps/{client_id}/access").get_data(as_text=True)
    assert "tier partner (from default)" in mine
