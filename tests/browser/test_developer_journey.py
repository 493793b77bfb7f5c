"""Scenario (a) in real Chromium: a new user registers, creates a web app in the developer
portal and copies its secret; a real OAuth client (requests-oauthlib, PKCE S256) runs the code
flow while the browser signs in and consents; it refreshes; the user revokes the app on
/account/apps and the app's refresh token stops working (docs/security.md#22)."""

from __future__ import annotations

import re

import pytest
from oauthlib.oauth2 import InvalidGrantError
from requests.auth import HTTPBasicAuth
from requests_oauthlib import OAuth2Session

from tests.browser import a11y
from tests.browser.conftest import screenshot, sign_in
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser
SCOPES = ["openid", "profile", "offline_access", "orders:read"]


def register(page, live, username: str) -> None:
    page.goto(live.url("/register"))
    a11y.check(page)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Email").fill(f"{username}@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.get_by_role("link", name="Sign out").wait_for()


def create_web_app(page, name: str, redirect_uri: str) -> tuple[str, str]:
    """Through the portal's pages, as a developer would; returns (client_id, copied secret)."""
    page.get_by_role("link", name="Developers").click()
    page.get_by_role("link", name="Create an app").click()
    # The type comes first and decides the fields (issue 15): services would get no redirects.
    page.get_by_label("Service or bot (acts for itself)").check()
    page.get_by_role("button", name="Show the fields for this type").click()
    assert page.get_by_label("Redirect URIs", exact=True).count() == 0
    page.get_by_label("Web app (server-side, keeps a secret)").check()
    page.get_by_role("button", name="Show the fields for this type").click()
    page.get_by_label("App name").fill(name)
    page.get_by_label("Redirect URIs", exact=True).fill(redirect_uri)
    for scope in SCOPES:
        page.get_by_role("checkbox", name=re.compile(f"^{re.escape(scope)}:")).check()
    a11y.check(page)
    screenshot(page, "developer-new-app")
    page.get_by_role("button", name="Create app").click()
    page.get_by_label("Client secret").wait_for()
    client_id = page.get_by_label("Client ID").input_value()
    shown = page.get_by_label("Client secret").input_value()
    page.locator("button[data-copy=client-secret]").click()
    copied = page.evaluate("() => navigator.clipboard.readText()")
    assert copied == shown and len(copied) >= 43  # 256 bits, base64url
    a11y.check(page)
    screenshot(page, "developer-app", docs=True)
    return client_id, copied


def test_register_create_app_code_flow_refresh_then_revoke(live, new_page, callback_url):
    page = new_page()
    register(page, live, "nadia")
    client_id, secret = create_web_app(page, "Trade Journal", callback_url)
    page.get_by_role("link", name="Sign out").click()
    page.get_by_role("button", name="Sign out of Tessera").click()

    oauth = OAuth2Session(client_id, redirect_uri=callback_url, scope=SCOPES, pkce="S256")
    url, state = oauth.authorization_url(live.url("/oauth/authorize"), nonce="n-0S6_WzA2Mj")
    page.goto(url)
    page.get_by_role("heading", name="Sign in").wait_for()
    a11y.check(page)
    screenshot(page, "login", docs=True)
    sign_in(page, "nadia")
    page.get_by_role("heading", name="Trade Journal wants access to your account").wait_for()
    assert "See your buy and sell orders." in page.locator("ul.scope-list").inner_text()
    assert "by nadia" in page.locator(".app-head").inner_text()
    a11y.check(page)
    screenshot(page, "consent", docs=True)
    page.get_by_role("button", name="Allow").click()
    page.wait_for_url(callback_url + "*")
    assert f"state={state}" in page.url and "code=" in page.url

    token_url = live.url("/oauth/token")
    token = oauth.fetch_token(token_url, authorization_response=page.url, client_secret=secret)
    assert token["token_type"].lower() == "bearer" and token["refresh_token"]
    assert oauth.get(live.url("/oauth/userinfo")).json()["preferred_username"] == "nadia"
    basic = HTTPBasicAuth(client_id, secret)
    refreshed = oauth.refresh_token(token_url, auth=basic)
    assert refreshed["refresh_token"] != token["refresh_token"]

    page.goto(live.url("/account"))
    page.get_by_role("link", name="Connected apps").first.click()
    entry = page.locator("li.connected-app", has_text="Trade Journal")
    assert "See your buy and sell orders." in entry.inner_text()
    assert "by nadia" in entry.inner_text() and "Not verified by Tessera" in entry.inner_text()
    a11y.check(page)
    screenshot(page, "connected-apps", docs=True)
    entry.locator("summary", has_text="Revoke access").click()  # asks for confirmation first
    assert page.locator("li.connected-app").count() == 1
    entry.get_by_role("button", name=re.compile("^Yes, revoke access")).click()
    page.get_by_text("Trade Journal no longer has access to your account.").wait_for()
    assert page.locator("li.connected-app").count() == 0
    screenshot(page, "connected-apps-revoked")

    with pytest.raises(InvalidGrantError):
        oauth.refresh_token(token_url, auth=basic)
