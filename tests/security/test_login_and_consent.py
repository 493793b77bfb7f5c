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
