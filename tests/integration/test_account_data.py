"""/account/export and /account/delete through the real pages (issue 13, account data)."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from sqlalchemy import select

from idp.extensions import db
from idp.services import apps
from idp.storage.models import AuditEvent, Client, ClientMember, Grant, LoginSession, User
from tests.conftest import PASSWORD, TEST_SECRET, AuthActions, csrf_token
from tests.integration.test_connected_apps import feed_gids
from tests.security.conftest import WEB_REDIRECT, Flow, register_app

WEB = apps.ClientSpec(
    name="Trade Helper", app_type="web", redirect_uris=[WEB_REDIRECT],
    scopes=["openid", "profile", "offline_access", "orders:read"],
)  # fmt: skip


def _register(app, username: str) -> int:
    client = app.test_client()
    assert AuthActions(client).register(username, f"{username}@example.com").status_code == 303
    with app.app_context():
        return db.session.scalar(select(User.id).where(User.username == username))


@pytest.fixture
def signed_in(app, client, auth, user):
    """The user `trader`, signed in, who authorized Trade Helper (owned by dana)."""
    dana = _register(app, "dana")
    helper = register_app(app, WEB, owner_id=dana)
    assert auth.login().status_code == 303
    tokens = Flow(client).tokens(helper, scope="openid orders:read offline_access")
    return helper, tokens


def delete(client, password: str = PASSWORD):
    token = csrf_token(client, "/account/delete")
    return client.post("/account/delete", data={"password": password, "csrf_token": token})


def load_user(app, username: str) -> User | None:
    with app.app_context():
        found = db.session.scalar(select(User).where(User.username == username))
        if found is not None:
            db.session.expunge(found)
        return found


def test_export_is_a_json_download_of_the_users_own_data(app, client, signed_in):
    token = csrf_token(client, "/account/delete")
    response = client.post("/account/export", data={"csrf_token": token})
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="tessera-account-trader.json"'
    )
    assert response.headers["Cache-Control"] == "no-store"
    document = json.loads(response.get_data(as_text=True))
    assert document["profile"]["username"] == "trader"
    assert document["profile"]["email"] == "trader@example.com"
    assert [a["name"] for a in document["connected_apps"]] == ["Trade Helper"]
    assert len(document["sessions"]) == 1 and document["sessions"][0]["this_browser"]
    events = [e["event"] for e in document["audit_events"]]
    assert "account.registered" in events and "login.succeeded" in events
    assert client.post("/account/export").status_code == 400  # no CSRF token, no download


def test_wrong_password_on_deletion_changes_nothing(app, client, signed_in):
    before = load_user(app, "trader")
    response = delete(client, "not my password at all")
    assert response.status_code == 400
    assert "Wrong password." in response.get_data(as_text=True)
    after = load_user(app, "trader")
    assert (after.email, after.password_hash, after.deleted_at) == (
        before.email, before.password_hash, None,
    )  # fmt: skip
    with app.app_context():
        assert db.session.scalar(select(Grant.revoked_at)) is None
        mine = select(LoginSession).where(LoginSession.user_id == before.id)
        assert len(db.session.scalars(mine).all()) == 1
    assert client.get("/account").status_code == 200


def test_deletion_revokes_grants_ends_sessions_erases_data_and_pseudonymizes_audit(
    app, client, auth, signed_in
):
    trader = load_user(app, "trader")
    auth.login(password="a wrong password")  # a failed login names the account in the log
    with app.app_context():
        gid = db.session.scalar(select(Grant.gid))
    response = delete(client)
    assert response.status_code == 303 and response.headers["Location"] == "/login"
    assert "Your account was deleted." in client.get("/login").get_data(as_text=True)
    assert client.get("/account").status_code == 303
    with app.app_context():
        row = db.session.get(User, trader.id)
        assert row.username.startswith("deleted-") and row.email.endswith("@deleted.invalid")
        assert row.password_hash == "" and row.deleted_at is not None
        assert db.session.scalar(select(Grant.revoked_at).where(Grant.gid == gid)) is not None
        mine = select(LoginSession).where(LoginSession.user_id == trader.id)
        assert db.session.scalars(mine).all() == []
        remaining = db.session.scalars(select(AuditEvent)).all()
    assert gid in feed_gids(app, app.test_client())  # resource servers are told
    alias = hmac.new(
        hmac.new(TEST_SECRET.encode(), b"tessera-audit-pseudonym", hashlib.sha256).digest(),
        f"user:{trader.id}".encode(),
        hashlib.sha256,
    ).hexdigest()[:32]
    assert not [e for e in remaining if e.user_id == trader.id]
    assert not [e for e in remaining if "trader" in json.dumps(e.data)]
    (deleted,) = [e for e in remaining if e.event == "account.deleted"]
    assert deleted.data["pseudonym"] == alias and deleted.data["grants_revoked"] == 1
    assert deleted.ip == "" and deleted.user_agent == ""
    failed = [e for e in remaining if e.event == "login.failed"]
    assert failed and all(e.data == {"pseudonym": alias} and e.ip == "" for e in failed)
    # The username and address are free again; the old password opens nothing.
    assert AuthActions(app.test_client()).login().status_code == 401
    assert _register(app, "trader") != trader.id


def test_owned_apps_pass_to_a_co_owner_or_are_deleted_and_the_page_says_which(
    app, client, auth, user
):
    owner = load_user(app, "trader").id
    kept = register_app(
        app, apps.ClientSpec(name="Kept App", app_type="service", scopes=[]), owner_id=owner
    )
    gone = register_app(
        app, apps.ClientSpec(name="Gone App", app_type="service", scopes=[]), owner_id=owner
    )
    heir = _register(app, "heir")
    with app.app_context():
        kept_pk = db.session.scalar(select(Client.id).where(Client.client_id == kept.client_id))
        db.session.add(ClientMember(client_pk=kept_pk, user_id=heir, role="owner"))
        db.session.commit()
    auth.login()
    page = client.get("/account/delete").get_data(as_text=True)
    assert "passes to its co-owner <strong>heir</strong>" in page
    assert "<strong>Gone App</strong>:" in page and "is deleted" in page
    assert delete(client).status_code == 303
    with app.app_context():
        assert db.session.scalar(select(Client.owner_id).where(Client.id == kept_pk)) == heir
        assert db.session.scalar(select(Client).where(Client.client_id == gone.client_id)) is None
        assert db.session.scalars(select(ClientMember)).all() == []


def test_an_admin_cannot_delete_the_account_and_nothing_changes(app, client, auth, user):
    with app.app_context():
        db.session.scalar(select(User).where(User.username == "trader")).is_admin = True
        db.session.commit()
    auth.login()
    response = delete(client)
    assert response.status_code == 400
    assert "An administrator account cannot be deleted" in response.get_data(as_text=True)
    assert load_user(app, "trader").deleted_at is None


def test_deletion_needs_csrf_and_sign_in(app, client, auth, user):
    assert client.get("/account/delete").status_code == 303
    auth.login()
    assert client.post("/account/delete", data={"password": PASSWORD}).status_code == 400
    assert load_user(app, "trader").deleted_at is None


def test_deletion_takes_a_recovery_code_instead_of_the_password(app, client, auth, user):
    """The one re-authentication check (idp.services.mfa.confirm_identity) serves deletion too."""
    from tests.security.mfa_helpers import enrol_totp, user_id_of

    _secret, codes = enrol_totp(app, user_id_of(app))
    auth.login()
    token = csrf_token(client, "/login/second-factor")
    client.post("/login/second-factor", data={"code": codes[0], "csrf_token": token})
    assert client.get("/account").status_code == 200
    assert delete(client, codes[0]).status_code == 400  # a used code is refused
    assert load_user(app, "trader") is not None
    assert delete(client, codes[1]).status_code == 303
    assert load_user(app, "trader") is None
