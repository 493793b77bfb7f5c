"""/account/apps: the apps a user authorized, in words, and revoking them (docs/security.md#22)."""

from __future__ import annotations

import re

import jwt
import pytest

from idp.extensions import db
from idp.services import accounts, apps
from idp.services.context import Caller
from idp.storage.models import AuditEvent, Grant
from idp.storage.unit_of_work import SqlAlchemyUnitOfWork
from tests.conftest import PASSWORD, AuthActions, csrf_token
from tests.security.conftest import WEB_REDIRECT, Flow, register_app

REVOKE_RE = re.compile(r'action="(/account/apps/[0-9a-f]+/revoke)"')


def feed_body(app, client) -> dict:
    """The revocation feed's full snapshot, read by a resource server registered for it."""
    rs = register_app(
        app,
        apps.ClientSpec(
            name="Market API", app_type="service", scopes=["market:read", "revocations:read"]
        ),
    )
    return client.get("/oauth/revocations", headers=rs.basic()).get_json()


def feed_gids(app, client) -> list[str]:
    return [entry["gid"] for entry in feed_body(app, client)["revoked_grants"]]


@pytest.fixture
def developer(app) -> int:
    with app.app_context():
        return accounts.register(
            SqlAlchemyUnitOfWork(), app.extensions["tessera"].hasher, Caller(),
            username="dana", email="dana@example.com", password=PASSWORD,
        ).id  # fmt: skip


@pytest.fixture
def trade_helper(app, developer):
    return register_app(
        app,
        apps.ClientSpec(
            name="Trade Helper",
            app_type="web",
            redirect_uris=[WEB_REDIRECT],
            scopes=["openid", "profile", "offline_access", "orders:read", "orders:write"],
        ),
        owner_id=developer,
    )


@pytest.fixture
def flow(client, auth, user) -> Flow:
    assert auth.login().status_code == 303
    return Flow(client)


def test_checklist_22_connected_apps_needs_sign_in(client):
    response = client.get("/account/apps")
    assert response.status_code == 303 and "/login" in response.headers["Location"]


def test_checklist_22_empty_list_says_so(flow):
    page = flow.client.get("/account/apps")
    assert page.status_code == 200
    assert "No app has access to your account." in page.get_data(as_text=True)


def test_checklist_22_lists_app_developer_scopes_in_words_and_dates(app, flow, trade_helper):
    flow.tokens(trade_helper, scope="openid orders:read orders:write offline_access")
    html = flow.client.get("/account/apps").get_data(as_text=True)
    assert "Trade Helper" in html and "by dana" in html
    assert f"/apps/{trade_helper.client_id}/logo" in html
    assert "See your buy and sell orders." in html
    assert "Create, change and close buy and sell orders in your name." in html
    assert "Sensitive" in html  # orders:write is restricted
    assert "Not verified by Tessera" in html
    assert "Allowed" in html and "Not yet" not in html  # the token exchange counts as a use
    # Revoking takes a second step (issue 15): the submit button is inside <details>.
    assert html.count("Revoke access…</summary>") == 1
    assert html.count("Yes, revoke access for Trade Helper</button>") == 1


def test_checklist_22_verified_badge(app, flow, trade_helper):
    flow.tokens(trade_helper, scope="openid")
    with app.app_context():
        SqlAlchemyUnitOfWork().clients.by_client_id(trade_helper.client_id).verified = True
        db.session.commit()
    assert "Verified app" in flow.client.get("/account/apps").get_data(as_text=True)


def test_checklist_22_revoke_kills_refresh_token_and_feeds_gid(app, flow, trade_helper):
    tokens = flow.tokens(trade_helper, scope="openid offline_access orders:read")
    gid = jwt.decode(tokens["access_token"], options={"verify_signature": False})["gid"]
    page = flow.client.get("/account/apps").get_data(as_text=True)
    action = REVOKE_RE.search(page).group(1)
    assert gid in action
    response = flow.client.post(
        action, data={"csrf_token": csrf_token(flow.client, "/account/apps")}
    )
    assert response.status_code == 303 and response.headers["Location"].endswith("/account/apps")
    after = flow.client.get("/account/apps").get_data(as_text=True)
    assert "Trade Helper no longer has access to your account." in after
    assert "No app has access to your account." in after
    refused = flow.refresh(trade_helper, tokens["refresh_token"])
    assert refused.status_code == 400 and refused.get_json()["error"] == "invalid_grant"
    assert gid in feed_gids(app, flow.client)
    with app.app_context():
        event = db.session.query(AuditEvent).filter_by(event="grant.revoked").one()
        assert event.client_id == trade_helper.client_id and event.data["gid"] == gid


def test_checklist_22_revoke_without_csrf_is_400_and_changes_nothing(app, flow, trade_helper):
    tokens = flow.tokens(trade_helper, scope="openid offline_access")
    action = REVOKE_RE.search(flow.client.get("/account/apps").get_data(as_text=True)).group(1)
    assert flow.client.post(action).status_code == 400
    assert flow.refresh(trade_helper, tokens["refresh_token"]).status_code == 200


def test_checklist_22_cannot_revoke_someone_elses_grant(app, client, flow, trade_helper):
    flow.tokens(trade_helper, scope="openid")
    with app.app_context():
        gid = db.session.query(Grant).one().gid
    other = app.test_client()
    AuthActions(other).register(username="mallory", email="mallory@example.com")
    assert AuthActions(other).login(login="mallory").status_code == 303
    token = csrf_token(other, "/account")
    response = other.post(f"/account/apps/{gid}/revoke", data={"csrf_token": token})
    assert response.status_code == 404
    with app.app_context():
        assert db.session.query(Grant).one().revoked_at is None


def test_checklist_22_unknown_or_already_revoked_gid_is_404(flow, trade_helper):
    flow.tokens(trade_helper, scope="openid")
    action = REVOKE_RE.search(flow.client.get("/account/apps").get_data(as_text=True)).group(1)
    token = csrf_token(flow.client, "/account/apps")
    assert flow.client.post(action, data={"csrf_token": token}).status_code == 303
    assert flow.client.post(action, data={"csrf_token": token}).status_code == 404
    junk = "/account/apps/" + "z" * 300 + "/revoke"
    assert flow.client.post(junk, data={"csrf_token": token}).status_code == 404


def test_account_page_and_nav_link_to_connected_apps(flow):
    html = flow.client.get("/account").get_data(as_text=True)
    assert html.count('href="/account/apps"') == 2  # the nav and the account page
