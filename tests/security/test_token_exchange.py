"""RFC 8693 token exchange for first-party apps (the Discord bot), and first-party consent."""

from __future__ import annotations

import jwt
import pytest

from idp.extensions import db
from idp.services import apps, connected_apps, federation_admin, token_exchange
from idp.services.context import Caller
from idp.storage.models import AuditEvent, Client, Grant, UpstreamLink, User
from idp.storage.unit_of_work import SqlAlchemyUnitOfWork
from tests.security.conftest import WEB_REDIRECT, App, register_app

EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
DISCORD_ID = "80351110224678912"
BOT_SCOPES = ["openid", "profile", "orders:read", "orders:write", "chat:write"]


def _bot(app, *, first_party=True, exchange=True) -> App:
    bot = register_app(
        app,
        apps.ClientSpec(
            name="Market Bot", app_type="web", redirect_uris=[WEB_REDIRECT], scopes=BOT_SCOPES
        ),
    )
    with app.app_context():
        uow = SqlAlchemyUnitOfWork()
        client = db.session.scalar(db.select(Client).where(Client.client_id == bot.client_id))
        if first_party:
            federation_admin.set_first_party(uow, Caller(), None, client, True)
        if exchange:
            federation_admin.set_token_exchange(uow, Caller(), None, client, True)
    return bot


def _link(app, username="trader", discord_id=DISCORD_ID) -> None:
    with app.app_context():
        user = db.session.scalar(db.select(User).where(User.username == username))
        db.session.add(UpstreamLink(user_id=user.id, provider="discord", subject=discord_id))
        db.session.commit()


def _exchange(client, bot: App, subject=DISCORD_ID, kind=token_exchange.SUBJECT_DISCORD_ID,
              **extra):  # fmt: skip
    data = {"grant_type": EXCHANGE, "subject_token": subject, "subject_token_type": kind, **extra}
    return client.post("/oauth/token", data=data, headers=bot.basic())


def _trader(app) -> tuple[int, str]:
    with app.app_context():
        user = db.session.scalar(db.select(User).where(User.username == "trader"))
        return user.id, user.subject


def _claims(app, token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def test_first_party_apps_skip_consent_recorded_as_implied(app, flow, user):
    bot = _bot(app, exchange=False)
    response = flow.authorize(bot, scope="openid orders:read")
    assert response.status_code == 303 and "code=" in response.headers["Location"]
    with app.app_context():
        grant = db.session.scalar(db.select(Grant))
        assert grant.implied is True and grant.scopes == "openid orders:read"
        assert db.session.scalar(db.select(AuditEvent).where(AuditEvent.event == "consent.implied"))
    listed = flow.client.get("/account/apps").get_data(as_text=True)
    assert "Market Bot" in listed and "First-party: allowed without asking" in listed


def test_third_party_apps_always_ask(app, flow, web_app):
    assert flow.authorize(web_app).status_code == 200  # the consent page


def test_rfc8693_the_bot_gets_a_delegated_token_for_a_linked_consenting_user(app, flow, user):
    bot = _bot(app)
    _link(app)
    flow.code(bot, scope="openid orders:read")  # the user connected the bot once (implied)
    response = _exchange(flow.client, bot)
    assert response.status_code == 200, response.get_json()
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["issued_token_type"] == "urn:ietf:params:oauth:token-type:access_token"
    assert "refresh_token" not in body and body["expires_in"] == 300
    claims = _claims(app, body["access_token"])
    user_id, subject = _trader(app)
    assert claims["act"] == {"sub": bot.client_id}
    assert claims["sub"] == subject and claims["scope"] == "openid orders:read"
    assert claims["exp"] - claims["iat"] == 300
    with app.app_context():
        event = db.session.scalar(
            db.select(AuditEvent).where(AuditEvent.event == "token_exchange.issued")
        )
        assert event.user_id == user_id and event.client_id == bot.client_id
    # Userinfo accepts it as the user's token.
    info = flow.client.get(
        "/oauth/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert info.status_code == 200 and info.get_json()["sub"] == subject


def test_rfc8693_an_access_token_the_users_app_holds_is_a_subject_too(app, flow, user, web_app):
    bot = _bot(app)
    flow.code(bot, scope="openid orders:read")
    held = flow.tokens(web_app)["access_token"]
    response = _exchange(flow.client, bot, held, token_exchange.SUBJECT_ACCESS_TOKEN)
    assert response.status_code == 200, response.get_json()
    assert _claims(app, response.get_json()["access_token"])["sub"] == _trader(app)[1]
    forged = _exchange(flow.client, bot, held + "x", token_exchange.SUBJECT_ACCESS_TOKEN)
    assert forged.get_json()["error"] == "invalid_grant"


def test_rfc8693_refused_when_the_user_has_not_linked(app, flow, user):
    bot = _bot(app)
    flow.code(bot, scope="openid orders:read")
    response = _exchange(flow.client, bot)
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_grant"


def test_rfc8693_refused_when_the_user_has_not_consented(app, flow, user):
    bot = _bot(app)
    _link(app)
    response = _exchange(flow.client, bot)
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_grant"


def test_rfc8693_refused_once_the_user_revoked_the_bot(app, flow, user):
    bot = _bot(app)
    _link(app)
    flow.code(bot, scope="openid orders:read")
    assert _exchange(flow.client, bot).status_code == 200
    with app.app_context():
        gid = db.session.scalar(db.select(Grant.gid))
        connected_apps.revoke(
            SqlAlchemyUnitOfWork(), app.extensions["tessera"].revocation_window, Caller(),
            _trader(app)[0], gid,
        )  # fmt: skip
    response = _exchange(flow.client, bot)
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_grant"


def test_rfc8693_no_scope_beyond_what_the_user_consented(app, flow, user):
    bot = _bot(app)
    _link(app)
    flow.code(bot, scope="openid orders:read")
    for scope in ("orders:write", "orders:read chat:write", "apps:manage"):
        response = _exchange(flow.client, bot, scope=scope)
        assert response.status_code == 400 and response.get_json()["error"] == "invalid_scope"
    narrowed = _exchange(flow.client, bot, scope="orders:read")
    assert _claims(app, narrowed.get_json()["access_token"])["scope"] == "orders:read"


@pytest.mark.parametrize("first_party, allowed", [(False, False), (True, False)])
def test_rfc8693_only_first_party_apps_an_admin_allowed(app, flow, user, first_party, allowed):
    bot = _bot(app, first_party=first_party, exchange=allowed)
    _link(app)
    flow.code(bot, scope="openid orders:read")
    response = _exchange(flow.client, bot)
    assert response.status_code == 400 and response.get_json()["error"] == "unauthorized_client"


def test_token_exchange_needs_first_party(app):
    bot = _bot(app, first_party=False, exchange=False)
    with app.app_context():
        client = db.session.scalar(db.select(Client).where(Client.client_id == bot.client_id))
        with pytest.raises(Exception, match="first-party"):
            federation_admin.set_token_exchange(
                SqlAlchemyUnitOfWork(), Caller(), None, client, True
            )


def test_rfc8693_unknown_subject_token_type_is_invalid_request(app, flow, user):
    bot = _bot(app)
    _link(app)
    flow.code(bot, scope="openid orders:read")
    response = _exchange(flow.client, bot, kind="urn:ietf:params:oauth:token-type:id_token")
    assert response.get_json()["error"] == "invalid_request"
    missing = flow.client.post("/oauth/token", data={"grant_type": EXCHANGE}, headers=bot.basic())
    assert missing.get_json()["error"] == "invalid_request"


def test_discovery_advertises_token_exchange(client):
    meta = client.get("/.well-known/openid-configuration").get_json()
    assert EXCHANGE in meta["grant_types_supported"]


def test_prompt_consent_still_asks_a_first_party_apps_user(app, flow, user):
    bot = _bot(app, exchange=False)
    assert flow.authorize(bot, prompt="consent").status_code == 200  # the consent page


def test_rfc8693_a_resource_server_verifies_the_delegated_token_and_sees_act(app, flow, user):
    """The middleware (tessera_middleware) accepts the token; `act` names the bot (issue 16)."""
    from urllib.parse import urlsplit

    from tessera_middleware import TokenVerifier
    from tessera_middleware.http import HttpResponse

    def fetch(url, headers):
        response = flow.client.get(urlsplit(url).path, headers=dict(headers))
        return HttpResponse(response.status_code, response.data)

    bot = _bot(app)
    _link(app)
    flow.code(bot, scope="openid orders:read")
    token = _exchange(flow.client, bot).get_json()["access_token"]
    verifier = TokenVerifier("http://localhost", "http://localhost/api", http=fetch)
    verified = verifier.verify(token)
    assert verified.subject == _trader(app)[1] and verified.client_id == bot.client_id
    assert verified.claims["act"] == {"sub": bot.client_id}
    assert not verified.is_machine  # a user's token, delegated
