"""Issue 13 where it meets OAuth: `email_verified` in tokens, consent by unverified accounts,
and a reset that revokes app grants only when the user ticks it (pushed to resource servers)."""

from __future__ import annotations

import jwt
import pytest

from idp.extensions import db
from idp.storage.models import RevocationEvent, User
from tests.conftest import AuthActions, csrf_token
from tests.mail_helpers import path_of, queued_link
from tests.security.conftest import Flow
from tests.security.test_oidc import id_token_claims

NEW_PASSWORD = "a brand new passphrase for trader"


def verify(app, client) -> None:
    page = client.get(path_of(queued_link(app, "trader@example.com")))
    assert page.status_code == 200


def test_email_verified_true_in_id_token_and_userinfo_once_verified(app, client, auth, web_app):
    auth.register()
    flow = Flow(client)
    before = flow.tokens(web_app, scope="openid email")
    assert id_token_claims(app, before["id_token"])["email_verified"] is False
    verify(app, client)
    after = flow.tokens(web_app, scope="openid email")
    assert id_token_claims(app, after["id_token"])["email_verified"] is True
    info = client.get(
        "/oauth/userinfo", headers={"Authorization": f"Bearer {after['access_token']}"}
    ).get_json()
    assert info["email_verified"] is True and info["email"] == "trader@example.com"


@pytest.fixture
def strict(make_app_client_flow):
    """An app where unverified accounts may not authorize apps (the production default)."""
    return make_app_client_flow(UNVERIFIED_MAY_CONSENT=False)


def test_unverified_account_may_not_consent_when_the_setting_says_so(strict):
    flow, app, web = strict
    page = flow.authorize(web)
    assert page.status_code == 403
    assert "Confirm your e-mail address first" in page.get_data(as_text=True)
    with app.app_context():
        user = db.session.scalar(db.select(User).where(User.username_key == "trader"))
        user.email_verified = True
        db.session.commit()
    assert flow.authorize(web).status_code == 200  # the consent page now


def test_production_default_refuses_unverified_consent_development_allows():
    from idp.config import load_settings

    assert load_settings({"SECRET_KEY": "x" * 40}, environ={}).unverified_may_consent is True
    production = load_settings(
        {"SECRET_KEY": "x" * 40, "ENV": "production", "ISSUER": "https://id.example.com"},
        environ={},
    )
    assert production.unverified_may_consent is False


def _reset(app, revoke: bool) -> None:
    client = app.test_client()
    token = csrf_token(client, "/password/forgot")
    client.post("/password/forgot", data={"login": "trader", "csrf_token": token})
    path = path_of(queued_link(app, "trader@example.com"))
    data = {"password": NEW_PASSWORD, "csrf_token": csrf_token(client, path)}
    if revoke:
        data["revoke_apps"] = "y"
    assert client.post(path, data=data).status_code == 303


@pytest.mark.parametrize("revoke", [False, True])
def test_reset_revokes_app_grants_only_when_ticked(app, flow, web_app, revoke):
    tokens = flow.tokens(web_app, scope="openid offline_access orders:read")
    gid = jwt.decode(tokens["access_token"], options={"verify_signature": False})["gid"]
    _reset(app, revoke)
    refreshed = flow.refresh(web_app, tokens["refresh_token"])
    assert refreshed.status_code == (400 if revoke else 200)
    with app.app_context():
        events = db.session.scalars(
            db.select(RevocationEvent).where(RevocationEvent.kind == "grant")
        ).all()
        assert [e.subject for e in events] == ([gid] if revoke else [])
    assert AuthActions(app.test_client()).login(password=NEW_PASSWORD).status_code == 303
