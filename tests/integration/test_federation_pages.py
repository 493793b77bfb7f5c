"""Federation on the other pages: admin marks (first-party, token exchange) and linked accounts,
the discord scope's claims, and Sign in with Discord in the middle of an authorization request."""

from __future__ import annotations

import jwt

from idp.extensions import db
from idp.services import apps
from idp.storage.models import AuditEvent, Client, UpstreamLink, User
from tests.integration.federation_helpers import upstream_round_trip
from tests.portal.test_admin_fixtures import browser_for, register, token_on
from tests.security.conftest import WEB_REDIRECT, Flow, query_of, register_app


def _client_row(app, client_id):
    with app.app_context():
        row = db.session.scalar(db.select(Client).where(Client.client_id == client_id))
        db.session.expunge(row)
        return row


def _bot(app, scopes=("openid", "discord", "orders:read")):
    spec = apps.ClientSpec(name="Market Bot", app_type="web", redirect_uris=[WEB_REDIRECT],
                           scopes=list(scopes))  # fmt: skip
    return register_app(app, spec)


def test_admin_marks_an_app_first_party_and_allows_token_exchange(app):
    admin = browser_for(app, "root", admin=True)
    bot = _bot(app)
    page = f"/admin/apps/{bot.client_id}"
    assert b"Mark as first-party" in admin.get(page).data
    token = token_on(admin, page)
    refused = admin.post(
        f"{page}/token-exchange", data={"token_exchange": "1", "csrf_token": token}
    )
    assert refused.status_code == 303 and not _client_row(app, bot.client_id).token_exchange
    admin.post(f"{page}/first-party", data={"first_party": "1", "csrf_token": token})
    admin.post(f"{page}/token-exchange", data={"token_exchange": "1", "csrf_token": token})
    row = _client_row(app, bot.client_id)
    assert row.first_party and row.token_exchange
    assert b"Turn token exchange off" in admin.get(page).data
    # Back to third-party: token exchange goes with it.
    admin.post(f"{page}/first-party", data={"first_party": "0", "csrf_token": token})
    row = _client_row(app, bot.client_id)
    assert not row.first_party and not row.token_exchange
    with app.app_context():
        names = [e.event for e in db.session.scalars(db.select(AuditEvent))]
    for event in ("admin.client_first_party", "admin.token_exchange_allowed",
                  "admin.client_third_party"):  # fmt: skip
        assert event in names
    assert (
        admin.post(
            f"{page}/first-party", data={"first_party": "x", "csrf_token": token}
        ).status_code
        == 400
    )


def test_admin_user_page_shows_linked_accounts(app):
    admin = browser_for(app, "root", admin=True)
    user_id = register(app, "linked")
    with app.app_context():
        db.session.add(UpstreamLink(user_id=user_id, provider="discord", subject="4242",
                                    username="nelly"))  # fmt: skip
        db.session.commit()
    page = admin.get(f"/admin/users/{user_id}").get_data(as_text=True)
    assert "Linked accounts" in page and "nelly" in page and "4242" in page


def test_the_discord_scope_releases_the_link_in_userinfo_and_the_id_token(app, client, auth, user):
    bot = _bot(app)
    assert auth.login().status_code == 303
    flow = Flow(client)
    unlinked = flow.tokens(bot, scope="openid discord")
    info = client.get(
        "/oauth/userinfo", headers={"Authorization": f"Bearer {unlinked['access_token']}"}
    )
    assert "discord_id" not in info.get_json()
    with app.app_context():
        trader = db.session.scalar(db.select(User).where(User.username == "trader"))
        db.session.add(UpstreamLink(user_id=trader.id, provider="discord", subject="777",
                                    username="nelly"))  # fmt: skip
        db.session.commit()
    tokens = flow.tokens(bot, scope="openid discord")
    info = client.get(
        "/oauth/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert info.get_json()["discord_id"] == "777" and info.get_json()["discord_username"] == "nelly"
    id_token = jwt.decode(tokens["id_token"], options={"verify_signature": False})
    assert id_token["discord_id"] == "777" and id_token["discord_username"] == "nelly"
    # Without the scope, nothing about Discord.
    plain = flow.tokens(bot, scope="openid orders:read")
    assert "discord_id" not in jwt.decode(plain["id_token"], options={"verify_signature": False})


def test_sign_in_with_discord_in_the_middle_of_an_authorization_request(
    fed_app, fed_client, discord_stub
):
    web = _bot(fed_app, scopes=("openid", "profile"))
    flow = Flow(fed_client)
    to_login = flow.authorize(web)
    assert to_login.status_code == 303 and "/login?next=" in to_login.headers["Location"]
    login_page = fed_client.get(to_login.headers["Location"]).get_data(as_text=True)
    assert "Sign in with Discord" in login_page
    next_url = query_of(to_login.headers["Location"])["next"]
    discord_stub.user = {**discord_stub.user, "id": "9001", "email": "midflow@example.com"}
    from urllib.parse import quote

    back = upstream_round_trip(fed_client, f"/login/upstream/discord?next={quote(next_url)}")
    assert back.headers["Location"] == "/login/upstream/username"
    token = token_on(fed_client, "/login/upstream/username")
    created = fed_client.post(
        "/login/upstream/username", data={"username": "midflow", "csrf_token": token}
    )
    assert created.status_code == 303 and created.headers["Location"].startswith(
        "/oauth/authorize?"
    )
    consent = fed_client.get(created.headers["Location"])
    assert consent.status_code == 200 and b"Allow" in consent.data  # back to consent
    decided = flow.decide(consent)
    assert decided.status_code == 303 and "code" in query_of(decided.headers["Location"])
