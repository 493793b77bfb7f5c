"""Scenario (b) in real Chromium: an admin approves a restricted scope, and the app may then ask
for it; the consent page shows it highlighted as sensitive."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from requests_oauthlib import OAuth2Session

from tests.browser import a11y
from tests.browser.conftest import screenshot, sign_in

pytestmark = pytest.mark.browser
ORDERS_WRITE = "Create, change and close buy and sell orders in your name."


def authorize(page, live, client_id: str, callback_url: str, scope: list[str]) -> OAuth2Session:
    oauth = OAuth2Session(client_id, redirect_uri=callback_url, scope=scope, pkce="S256")
    url, _ = oauth.authorization_url(live.url("/oauth/authorize"))
    page.goto(url)
    return oauth


def test_admin_approves_restricted_scope_then_consent_highlights_it(live, new_page, callback_url):
    dev = live.user("bianca")
    live.user("root", admin=True)
    live.user("olga")
    client_id, secret = live.web_app(
        "Order Pilot", dev, callback_url, ["openid", "profile", "orders:read"]
    )
    live.request_scopes(
        client_id, dev, ["orders:write"], "Places the limit orders our users set up in the app."
    )

    # Before the approval the app may not even ask: the error goes back to its redirect URI
    # at once, before anyone signs in.
    user_page = new_page()
    authorize(user_page, live, client_id, callback_url, ["openid", "orders:write"])
    user_page.wait_for_url(callback_url + "*")
    refused = parse_qs(urlsplit(user_page.url).query)
    assert refused["error"] == ["invalid_scope"] and refused["iss"] == [live.issuer]

    admin_page = new_page()
    admin_page.goto(live.url("/login"))
    sign_in(admin_page, "root")
    admin_page.get_by_role("link", name="Admin").click()
    request_card = admin_page.locator("article.request", has_text="Order Pilot")
    assert ORDERS_WRITE in request_card.inner_text()
    a11y.check(admin_page)
    screenshot(admin_page, "admin-queue", docs=True)
    request_card.get_by_label(re.compile("^Reason")).fill("Checked the app's order screens.")
    request_card.get_by_role("button", name="Approve").click()
    admin_page.get_by_text("Approved: orders:write for Order Pilot.").wait_for()
    admin_page.get_by_role("link", name="Approved").click()
    assert "Checked the app's order screens." in admin_page.locator("main").inner_text()
    admin_page.get_by_role("link", name="Audit log").click()
    admin_page.get_by_label("Event").select_option("access_request.approved")
    admin_page.get_by_role("button", name="Filter").click()
    assert admin_page.locator("table.events tbody tr").count() == 1
    a11y.check(admin_page)
    screenshot(admin_page, "admin-audit-log")

    oauth = authorize(user_page, live, client_id, callback_url, ["openid", "orders:write"])
    sign_in(user_page, "olga")
    user_page.get_by_role("heading", name="Order Pilot wants access to your account").wait_for()
    sensitive = user_page.locator("ul.scope-list li.restricted")
    assert sensitive.count() == 1 and ORDERS_WRITE in sensitive.inner_text()
    assert "Sensitive" in sensitive.inner_text()
    normal = user_page.locator("ul.scope-list li:not(.restricted)").first
    highlight = "el => getComputedStyle(el).backgroundColor"
    assert sensitive.evaluate(highlight) != normal.evaluate(highlight)
    a11y.check(user_page)
    screenshot(user_page, "consent-restricted-scope", docs=True)
    user_page.get_by_role("button", name="Allow").click()
    user_page.wait_for_url(callback_url + "*")
    token = oauth.fetch_token(
        live.url("/oauth/token"), authorization_response=user_page.url, client_secret=secret
    )
    assert "orders:write" in token["scope"]
