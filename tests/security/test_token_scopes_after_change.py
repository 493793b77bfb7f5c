"""Issue 12 item 3: after an app lost scopes, refresh and code redemption stop issuing them
(RFC 6749 6, RFC 9700 4.14.2: a token is bound to the consented scopes *and* the app's policy)."""

from __future__ import annotations

import jwt

from idp.services import apps
from idp.services.context import Caller
from idp.storage.unit_of_work import SqlAlchemyUnitOfWork

KEPT = ["openid", "profile", "offline_access", "orders:write"]  # email, orders:read removed


def remove_scopes(app, client_id: str) -> None:
    """What the owner does in the portal: save the app with fewer scopes."""
    with app.app_context():
        uow = SqlAlchemyUnitOfWork()
        client = uow.clients.by_client_id(client_id)
        apps.update_app(
            uow, app.extensions["tessera"].catalogue, Caller(), client, None, scopes=KEPT
        )


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def test_issue12_3_refresh_after_the_app_lost_scopes_issues_only_what_it_holds(
    app, client, flow, web_app
):
    scope = "openid email orders:read offline_access"
    first = flow.tokens(web_app, scope=scope)
    assert set(first["scope"].split()) == set(scope.split())
    remove_scopes(app, web_app.client_id)
    refreshed = flow.refresh(web_app, first["refresh_token"])
    assert refreshed.status_code == 200, refreshed.get_json()
    body = refreshed.get_json()
    assert body["scope"] == "openid offline_access"
    assert claims_of(body["access_token"])["scope"] == "openid offline_access"
    info = client.get(
        "/oauth/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert info.status_code == 200 and "email" not in info.get_json()


def test_issue12_3_code_redeemed_after_the_app_lost_scopes_issues_only_what_it_holds(
    app, flow, web_app
):
    code = flow.code(web_app, scope="openid email orders:read")
    remove_scopes(app, web_app.client_id)
    response = flow.exchange(web_app, code)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["scope"] == "openid"
    assert "email" not in claims_of(body["id_token"])


def test_issue12_3_a_scope_given_back_is_issued_again(app, flow, web_app):
    """The refresh token keeps the user's consent; the app's policy decides each time."""
    first = flow.tokens(web_app, scope="openid email offline_access")
    remove_scopes(app, web_app.client_id)
    narrowed = flow.refresh(web_app, first["refresh_token"]).get_json()
    assert narrowed["scope"] == "openid offline_access"
    with app.app_context():
        uow = SqlAlchemyUnitOfWork()
        client = uow.clients.by_client_id(web_app.client_id)
        apps.update_app(
            uow, app.extensions["tessera"].catalogue, Caller(), client, None,
            scopes=[*KEPT, "email"],
        )  # fmt: skip
    again = flow.refresh(web_app, narrowed["refresh_token"]).get_json()
    assert again["scope"] == "openid email offline_access"


def test_issue12_3_refresh_when_the_app_holds_none_of_the_granted_scopes_is_invalid_scope(
    app, flow, web_app
):
    first = flow.tokens(web_app, scope="email orders:read")
    remove_scopes(app, web_app.client_id)
    response = flow.refresh(web_app, first["refresh_token"])
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_scope"
