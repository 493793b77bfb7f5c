"""Admin console: who may see it, the access request queue and app administration."""

from __future__ import annotations

import jwt
import pytest

from idp.storage.models import AccessRequest, Client
from tests.conftest import AuthActions
from tests.integration.test_connected_apps import feed_body
from tests.portal.test_admin_fixtures import (
    ask_for_scopes,
    ask_for_tier,
    browser_for,
    events,
    load,
    register,
    token_on,
    web_app,
)
from tests.security.conftest import Flow

ADMIN_PAGES = ["/admin/", "/admin/requests", "/admin/apps", "/admin/users", "/admin/audit"]


@pytest.fixture
def admin(app):
    return browser_for(app, "root", admin=True)


@pytest.fixture
def helper(app):
    """A developer's web app: (developer id, App)."""
    dev = register(app, "dana")
    return dev, web_app(app, dev)


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_admin_console_is_404_for_signed_out_visitors(client, path):
    assert client.get(path).status_code == 404


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_admin_console_is_404_for_non_admins(app, path):
    browser = browser_for(app, "trader")
    assert browser.get(path).status_code == 404
    assert 'href="/admin' not in browser.get("/account").get_data(as_text=True)


def test_admin_console_post_is_404_for_non_admins(app, helper):
    dev, helper_app = helper
    request_id = ask_for_scopes(app, helper_app.client_id, dev, ["orders:write"])
    browser = browser_for(app, "trader")
    token = token_on(browser, "/account")
    for path, data in [
        (f"/admin/requests/{request_id}/decide", {"decision": "approve"}),
        (f"/admin/apps/{helper_app.client_id}/suspend", {"reason": "spam"}),
        (f"/admin/users/{dev}/disable", {"reason": "spam"}),
        (f"/admin/users/{dev}/admin", {"admin": "1"}),
    ]:
        assert browser.post(path, data={**data, "csrf_token": token}).status_code == 404
    assert load(app, AccessRequest, id=request_id).status == "pending"


def test_admin_sees_console_link_and_every_page(admin):
    assert 'href="/admin/requests"' in admin.get("/account").get_data(as_text=True)
    assert admin.get("/admin/").status_code == 303
    for path in ADMIN_PAGES[1:]:
        assert admin.get(path).status_code == 200, path


def test_queue_lists_pending_requests_with_scopes_in_words(app, admin, helper):
    dev, helper_app = helper
    ask_for_scopes(app, helper_app.client_id, dev, ["orders:write"])
    ask_for_tier(app, helper_app.client_id, dev)
    html = admin.get("/admin/requests").get_data(as_text=True)
    assert "Trade Helper" in html and "by dana" in html
    assert "Create, change and close buy and sell orders in your name." in html
    assert "the verified tier" in html
    assert html.count(">Approve</button>") == 2


def test_approving_a_scope_request_lets_the_app_ask_for_it(app, admin, helper, user):
    dev, helper_app = helper
    request_id = ask_for_scopes(app, helper_app.client_id, dev, ["orders:write"])
    token = token_on(admin, "/admin/requests")
    response = admin.post(
        f"/admin/requests/{request_id}/decide",
        data={"csrf_token": token, "decision": "approve", "reason": "Looks fine."},
    )
    assert response.status_code == 303
    assert "orders:write for Trade Helper" in admin.get("/admin/requests").get_data(as_text=True)
    assert "orders:write" in load(app, Client, client_id=helper_app.client_id).allowed_scopes
    (event,) = events(app, "access_request.approved")
    assert event.client_id == helper_app.client_id and event.data["reason"] == "Looks fine."
    trader = app.test_client()
    assert AuthActions(trader).login().status_code == 303
    consent = Flow(trader).authorize(helper_app, scope="openid orders:write")
    html = consent.get_data(as_text=True)
    assert consent.status_code == 200 and 'class="restricted"' in html


def test_approving_a_tier_request_changes_the_tier(app, admin, helper):
    dev, helper_app = helper
    request_id = ask_for_tier(app, helper_app.client_id, dev)
    token = token_on(admin, "/admin/requests")
    admin.post(
        f"/admin/requests/{request_id}/decide", data={"csrf_token": token, "decision": "approve"}
    )
    assert load(app, Client, client_id=helper_app.client_id).tier == "verified"


def test_denying_needs_a_reason_shown_next_to_the_field(app, admin, helper):
    dev, helper_app = helper
    request_id = ask_for_scopes(app, helper_app.client_id, dev, ["orders:write"])
    token = token_on(admin, "/admin/requests")
    response = admin.post(
        f"/admin/requests/{request_id}/decide", data={"csrf_token": token, "decision": "deny"}
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Give the developer a reason for the denial." in html and 'aria-invalid="true"' in html
    assert load(app, AccessRequest, id=request_id).status == "pending"
    response = admin.post(
        f"/admin/requests/{request_id}/decide",
        data={"csrf_token": token, "decision": "deny", "reason": "Not needed for a price bot."},
    )
    assert response.status_code == 303
    row = load(app, AccessRequest, id=request_id)
    assert row.status == "denied" and row.reason == "Not needed for a price bot."
    assert "orders:write" not in load(app, Client, client_id=helper_app.client_id).allowed_scopes
    assert events(app, "access_request.denied")[0].data["reason"] == "Not needed for a price bot."


def test_deciding_twice_or_unknown_request_is_readable(app, admin, helper):
    dev, helper_app = helper
    request_id = ask_for_scopes(app, helper_app.client_id, dev, ["orders:write"])
    token = token_on(admin, "/admin/requests")
    data = {"csrf_token": token, "decision": "approve"}
    assert admin.post(f"/admin/requests/{request_id}/decide", data=data).status_code == 303
    again = admin.post(f"/admin/requests/{request_id}/decide", data=data)
    assert again.status_code == 400 and "already approved" in again.get_data(as_text=True)
    assert admin.post("/admin/requests/999999/decide", data=data).status_code == 404
    odd = admin.post(f"/admin/requests/{request_id}/decide", data={"csrf_token": token})
    assert odd.status_code == 400
    assert admin.get("/admin/requests?status=bogus").status_code == 400
    assert "Approved" in admin.get("/admin/requests?status=approved").get_data(as_text=True)


def test_admin_forms_without_csrf_are_400(app, admin, helper):
    dev, helper_app = helper
    request_id = ask_for_scopes(app, helper_app.client_id, dev, ["orders:write"])
    cid = helper_app.client_id
    for path, data in [
        (f"/admin/requests/{request_id}/decide", {"decision": "approve"}),
        (f"/admin/apps/{cid}/limits", {"tier": "verified"}),
        (f"/admin/apps/{cid}/verified", {"verified": "1"}),
        (f"/admin/apps/{cid}/suspend", {"reason": "spam"}),
        (f"/admin/apps/{cid}/unsuspend", {}),
        (f"/admin/users/{dev}/disable", {"reason": "spam"}),
        (f"/admin/users/{dev}/enable", {}),
        (f"/admin/users/{dev}/admin", {"admin": "1"}),
    ]:
        assert admin.post(path, data=data).status_code == 400, path
    assert load(app, AccessRequest, id=request_id).status == "pending"
    assert load(app, Client, client_id=cid).suspended_at is None


def test_app_search_by_name_client_id_and_owner(app, admin, helper):
    _, helper_app = helper
    web_app(app, None, scopes=["openid"])  # a second "Trade Helper" with no owner
    assert admin.get("/admin/apps?q=trade").get_data(as_text=True).count("/admin/apps/") == 2
    by_id = admin.get(f"/admin/apps?q={helper_app.client_id}").get_data(as_text=True)
    assert by_id.count("/admin/apps/") == 1
    assert admin.get("/admin/apps?q=dana").get_data(as_text=True).count("/admin/apps/") == 1
    assert "No app matches" in admin.get("/admin/apps?q=nothing-like-it").get_data(as_text=True)


def test_app_page_shows_details_and_unknown_app_is_404(admin, helper):
    _, helper_app = helper
    html = admin.get(f"/admin/apps/{helper_app.client_id}").get_data(as_text=True)
    assert "Trade Helper" in html and helper_app.client_id in html and "dana" in html
    assert "client.created" in html  # recent events
    assert admin.get("/admin/apps/no-such-app").status_code == 404


def test_change_tier_and_custom_limits_reach_the_token(app, admin, helper, user):
    _, helper_app = helper
    cid = helper_app.client_id
    token = token_on(admin, f"/admin/apps/{cid}")
    response = admin.post(
        f"/admin/apps/{cid}/limits",
        data={"csrf_token": token, "tier": "verified", "custom_rps": "2.5", "custom_burst": "7"},
    )
    assert response.status_code == 303
    client = load(app, Client, client_id=cid)
    assert (client.tier, client.custom_rps, client.custom_burst) == ("verified", 2.5, 7)
    (event,) = events(app, "admin.client_limits_changed")
    assert event.data["after"] == {"tier": "verified", "rps": 2.5, "burst": 7}
    trader = app.test_client()
    assert AuthActions(trader).login().status_code == 303
    tokens = Flow(trader).tokens(helper_app, scope="openid")
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert claims["tier"] == {"name": "verified", "rps": 2.5, "burst": 7}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"tier": "platinum"}, "Not a valid choice"),
        ({"tier": "default", "custom_rps": "fast"}, "must be a number"),
        ({"tier": "default", "custom_rps": "-1"}, "above 0"),
        ({"tier": "default", "custom_rps": "nan"}, "above 0"),
        ({"tier": "default", "custom_burst": "1.5"}, "whole number"),
        ({"tier": "default", "custom_burst": "0"}, "whole number"),
    ],
)
def test_bad_limits_are_explained_next_to_the_field(app, admin, helper, data, message):
    _, helper_app = helper
    cid = helper_app.client_id
    token = token_on(admin, f"/admin/apps/{cid}")
    response = admin.post(f"/admin/apps/{cid}/limits", data={"csrf_token": token, **data})
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert load(app, Client, client_id=cid).tier == "default"
    assert events(app, "admin.client_limits_changed") == []


def test_blank_custom_limits_fall_back_to_the_tier(app, admin, helper):
    _, helper_app = helper
    cid = helper_app.client_id
    token = token_on(admin, f"/admin/apps/{cid}")
    data = {"csrf_token": token, "tier": "default", "custom_rps": "9", "custom_burst": "9"}
    admin.post(f"/admin/apps/{cid}/limits", data=data)
    admin.post(f"/admin/apps/{cid}/limits", data={**data, "custom_rps": "", "custom_burst": ""})
    client = load(app, Client, client_id=cid)
    assert client.custom_rps is None and client.custom_burst is None


def test_mark_verified_shows_on_the_consent_screen(app, admin, helper, user):
    _, helper_app = helper
    cid = helper_app.client_id
    token = token_on(admin, f"/admin/apps/{cid}")
    assert (
        admin.post(
            f"/admin/apps/{cid}/verified", data={"csrf_token": token, "verified": "1"}
        ).status_code
        == 303
    )
    assert load(app, Client, client_id=cid).verified is True
    assert len(events(app, "admin.client_verified")) == 1
    trader = app.test_client()
    assert AuthActions(trader).login().status_code == 303
    consent = Flow(trader).authorize(helper_app, scope="openid profile")
    assert "Verified app" in consent.get_data(as_text=True)
    admin.post(f"/admin/apps/{cid}/verified", data={"csrf_token": token, "verified": "0"})
    assert load(app, Client, client_id=cid).verified is False
    assert len(events(app, "admin.client_unverified")) == 1
    bad = admin.post(f"/admin/apps/{cid}/verified", data={"csrf_token": token, "verified": "x"})
    assert bad.status_code == 400


def test_suspend_refuses_tokens_and_feeds_the_app_then_unsuspend(app, admin, helper, user):
    _, helper_app = helper
    cid = helper_app.client_id
    trader = app.test_client()
    assert AuthActions(trader).login().status_code == 303
    flow = Flow(trader)
    tokens = flow.tokens(helper_app, scope="openid offline_access")
    token = token_on(admin, f"/admin/apps/{cid}")
    missing = admin.post(f"/admin/apps/{cid}/suspend", data={"csrf_token": token, "reason": ""})
    assert missing.status_code == 400 and "Give a reason." in missing.get_data(as_text=True)
    response = admin.post(
        f"/admin/apps/{cid}/suspend", data={"csrf_token": token, "reason": "Phishing reports"}
    )
    assert response.status_code == 303
    refused = flow.refresh(helper_app, tokens["refresh_token"])
    # The app authenticated: it is told it is suspended (issue 15), not "wrong secret".
    assert refused.status_code == 400 and refused.get_json()["error"] == "unauthorized_client"
    assert "suspended" in refused.get_json()["error_description"]
    assert cid in feed_body(app, trader)["suspended_clients"]
    (event,) = events(app, "client.suspended")
    assert event.user_id is not None and event.data["reason"] == "Phishing reports"
    assert "Phishing reports" in admin.get(f"/admin/apps/{cid}").get_data(as_text=True)
    assert admin.post(f"/admin/apps/{cid}/unsuspend", data={"csrf_token": token}).status_code == 303
    assert load(app, Client, client_id=cid).suspended_at is None
    assert len(events(app, "client.unsuspended")) == 1
    assert flow.tokens(helper_app, scope="openid")["access_token"]
