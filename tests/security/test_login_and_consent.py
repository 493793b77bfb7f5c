"""OIDC Core 3.1.2.1 prompt/max_age, and consent remembered per user and app."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from freezegun import freeze_time

from tests.conftest import PASSWORD, csrf_token
from tests.security.conftest import Flow, query_of


def test_oidc_prompt_none_without_session_is_login_required(client, web_app):
    response = Flow(client).authorize(web_app, prompt="none")
    query = query_of(response.headers["Location"])
    assert query["error"] == "login_required" and query["iss"] == "http://localhost"


def test_signed_out_user_is_sent_to_login_and_back(client, auth, user, web_app):
    flow = Flow(client)
    response = flow.authorize(web_app)
    assert response.status_code == 303 and response.headers["Location"].startswith("/login?next=")
    token = csrf_token(client, "/login")
    back = client.post(
        response.headers["Location"],
        data={"login": "trader", "password": PASSWORD, "csrf_token": token},
    )
    assert back.status_code == 303 and back.headers["Location"].startswith("/oauth/authorize?")
    consent = client.get(back.headers["Location"])
    assert consent.status_code == 200 and "Trade Helper wants access" in consent.get_data(
        as_text=True
    )


def test_oidc_prompt_login_forces_a_fresh_login(flow, web_app):
    flow.code(web_app)  # consent given, session exists
    response = flow.authorize(web_app, prompt="login")
    assert response.headers["Location"].startswith("/login")
    token = csrf_token(flow.client, "/login")
    after = flow.client.post(
        response.headers["Location"],
        data={"login": "trader", "password": PASSWORD, "csrf_token": token},
    )
    assert after.status_code == 303 and after.headers["Location"].startswith("/oauth/authorize")
    final = flow.client.get(after.headers["Location"])
    assert "code=" in final.headers["Location"]


def test_oidc_max_age_exceeded_requires_login(flow, web_app):
    flow.code(web_app)
    with freeze_time(datetime.now(UTC)) as frozen:
        frozen.tick(timedelta(seconds=120))
        response = flow.authorize(web_app, max_age="60")
        assert response.headers["Location"].startswith("/login")
        assert "code=" in flow.authorize(web_app, max_age="3600").headers["Location"]


def test_oidc_max_age_must_be_a_number(flow, web_app):
    response = flow.authorize(web_app, max_age="soon")
    assert query_of(response.headers["Location"])["error"] == "invalid_request"


def test_consent_remembered_for_same_scopes(flow, web_app):
    flow.code(web_app, scope="openid profile")
    again = flow.authorize(web_app, scope="openid profile")
    assert again.status_code == 303 and "code=" in again.headers["Location"]


def test_consent_asks_only_for_the_difference(flow, web_app):
    flow.code(web_app, scope="openid profile")
    page = flow.authorize(web_app, scope="openid profile orders:read")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert html.count("Already allowed") == 2
    assert "See your buy and sell orders." in html


def test_restricted_scope_highlighted_on_consent(flow, web_app):
    html = flow.authorize(web_app, scope="openid orders:write").get_data(as_text=True)
    assert 'class="restricted"' in html and "Sensitive" in html


def test_oidc_prompt_consent_shows_page_again(flow, web_app):
    flow.code(web_app)
    assert flow.authorize(web_app, prompt="consent").status_code == 200


def test_oidc_prompt_none_without_consent_is_consent_required(flow, web_app):
    response = flow.authorize(web_app, prompt="none")
    assert query_of(response.headers["Location"])["error"] == "consent_required"


def test_oidc_prompt_none_with_other_values_is_invalid(flow, web_app):
    response = flow.authorize(web_app, prompt="none login")
    assert query_of(response.headers["Location"])["error"] == "invalid_request"


def test_consent_page_shows_app_details(app, flow, web_app):
    html = flow.authorize(web_app).get_data(as_text=True)
    assert "Trade Helper" in html and "Not verified" in html and "trader" in html
    assert f"/apps/{web_app.client_id}/logo" in html


def test_login_page_names_the_app_waiting_for_it(client, user, web_app):
    response = Flow(client).authorize(web_app)
    page = client.get(response.headers["Location"])
    assert "to continue to <strong>Trade Helper</strong>" in page.get_data(as_text=True)


def _fresh_login_then_abandon_consent(flow, web_app, **params):
    """prompt=login, sign in again, and walk away from the consent page."""
    response = flow.authorize(web_app, **params)
    assert response.headers["Location"].startswith("/login")
    token = csrf_token(flow.client, "/login")
    after = flow.client.post(
        response.headers["Location"],
        data={"login": "trader", "password": PASSWORD, "csrf_token": token},
    )
    consent_page = flow.client.get(after.headers["Location"])
    assert consent_page.status_code == 200  # abandoned here


def test_oidc_prompt_login_mark_does_not_outlive_an_abandoned_consent(flow, web_app):
    """OIDC Core 3.1.2.1: a fresh login counts for the one request it was made for (issue 12, 2)."""
    _fresh_login_then_abandon_consent(flow, web_app, prompt="login")
    again = flow.authorize(web_app, prompt="login")
    assert again.status_code == 303 and again.headers["Location"].startswith("/login")
    same_again = flow.authorize(web_app, prompt="login", state="st-123")
    assert same_again.headers["Location"].startswith("/login")


def test_oidc_max_age_after_an_abandoned_prompt_login_needs_a_new_login(flow, web_app):
    _fresh_login_then_abandon_consent(flow, web_app, prompt="login")
    with freeze_time(datetime.now(UTC)) as frozen:
        frozen.tick(timedelta(seconds=5))
        response = flow.authorize(web_app, max_age="1")
        assert response.status_code == 303 and response.headers["Location"].startswith("/login")


def test_oidc_prompt_login_mark_cleared_by_a_denial(flow, web_app):
    response = flow.authorize(web_app, prompt="login")
    token = csrf_token(flow.client, "/login")
    after = flow.client.post(
        response.headers["Location"],
        data={"login": "trader", "password": PASSWORD, "csrf_token": token},
    )
    denied = flow.decide(flow.client.get(after.headers["Location"]), decision="deny")
    assert query_of(denied.headers["Location"])["error"] == "access_denied"
    assert flow.authorize(web_app, prompt="login").headers["Location"].startswith("/login")
