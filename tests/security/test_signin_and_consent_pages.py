"""Issue 15, rough edges on pages: the sign-in form's skip link and autofocus, the CSRF error
page's navigation, the consent page without site navigation and with "Not you?"."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qs, urlsplit

from tests.conftest import PASSWORD, csrf_token
from tests.portal.test_admin_fixtures import register
from tests.security.conftest import query_of


def test_sign_in_form_has_a_skip_link_and_autofocus(client):
    html = client.get("/login").get_data(as_text=True)
    body = html.split("<body>", 1)[1]
    assert body.lstrip().startswith('<a class="skip-link" href="#main">Skip to content</a>')
    assert '<main id="main">' in html
    login_input = re.search(r"<input[^>]+name=\"login\"[^>]*>", html).group(0)
    assert "autofocus" in login_input
    assert "autofocus" not in re.search(r"<input[^>]+name=\"password\"[^>]*>", html).group(0)


def test_csrf_error_page_keeps_the_signed_in_navigation(client, auth, user):
    assert auth.login().status_code == 303
    response = client.post("/account/password", data={"current_password": "x"})
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and "This form has expired" in html
    assert 'href="/account"' in html and "Sign out" in html
    assert "Create account" not in html


def test_csrf_error_page_signed_out_shows_sign_in(client):
    html = client.post("/login", data={"login": "x", "password": "y"}).get_data(as_text=True)
    assert "This form has expired" in html and "Sign in" in html and "Sign out" not in html


def test_consent_page_has_no_site_navigation_and_a_not_you_link(app, flow, web_app):
    response = flow.authorize(web_app, scope="openid profile")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "wants access to your account" in html
    assert '<nav aria-label="Main">' not in html and "Connected apps</a>" not in html
    assert 'form="not-you"' in html and ">Not you?</button>" in html


def test_not_you_signs_out_and_returns_to_the_same_authorization_request(
    app, client, flow, web_app
):
    html = flow.authorize(web_app, scope="openid profile", state="s-42").get_data(as_text=True)
    form = html.split('<form id="not-you"', 1)[1].split("</form>", 1)[0]
    back = unescape(re.search(r'name="next" value="([^"]+)"', form).group(1))
    assert back.startswith("/oauth/authorize?")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    out = client.post("/logout", data={"csrf_token": token, "next": back})
    assert out.status_code == 303
    login_url = out.headers["Location"]
    assert urlsplit(login_url).path == "/login"
    assert parse_qs(urlsplit(login_url).query)["next"] == [back]
    assert client.get("/account").status_code in (302, 303)  # signed out
    # Someone else signs in and lands on the same request: its client, scope and state.
    register(app, "other")
    login_page = client.get(login_url)
    assert login_page.status_code == 200
    token = csrf_token(client, login_url)
    signed_in = client.post(
        login_url, data={"login": "other", "password": PASSWORD, "csrf_token": token}
    )
    assert signed_in.status_code == 303
    again = signed_in.headers["Location"]
    params = query_of(again)
    assert urlsplit(again).path == "/oauth/authorize"
    assert params["client_id"] == web_app.client_id and params["state"] == "s-42"
    page = client.get(again).get_data(as_text=True)
    assert "Signed in as <strong>other</strong>" in page


def test_logout_ignores_a_next_that_leaves_the_site(client, auth, user):
    assert auth.login().status_code == 303
    token = csrf_token(client, "/logout")
    out = client.post("/logout", data={"csrf_token": token, "next": "https://evil.example/"})
    assert out.headers["Location"] == "/login"
