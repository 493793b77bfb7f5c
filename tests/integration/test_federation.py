"""Sign in with Discord and a generic OpenID provider (stand-ins on loopback), link, unlink,
the e-mail collision rule, the discord scope's claims, and upstream failures (never a 500)."""

from __future__ import annotations

from urllib.parse import urlsplit

import requests

from idp.extensions import db
from idp.storage.models import AuditEvent, UpstreamLink, User
from tests.conftest import PASSWORD, csrf_token
from tests.integration.federation_helpers import upstream_round_trip


def _events(app, name: str) -> list[AuditEvent]:
    with app.app_context():
        return list(db.session.scalars(db.select(AuditEvent).where(AuditEvent.event == name)))


def _links(app) -> list[tuple[int, str, str]]:
    with app.app_context():
        rows = db.session.scalars(db.select(UpstreamLink)).all()
        return [(r.user_id, r.provider, r.subject) for r in rows]


def _register(client, username="trader", email="trader@example.com"):
    token = csrf_token(client, "/register")
    data = {"username": username, "email": email, "password": PASSWORD, "csrf_token": token}
    assert client.post("/register", data=data).status_code == 303


def _new_account_via_discord(client, username="nelly"):
    back = upstream_round_trip(client, "/login/upstream/discord?next=/account")
    assert back.status_code == 303 and back.headers["Location"] == "/login/upstream/username"
    token = csrf_token(client, "/login/upstream/username")
    done = client.post("/login/upstream/username", data={"username": username, "csrf_token": token})
    assert done.status_code == 303 and done.headers["Location"] == "/account", done.data[:300]
    return done


def test_login_and_register_pages_offer_each_configured_provider(fed_client):
    for path in ("/login", "/register"):
        page = fed_client.get(path + "?next=/account").get_data(as_text=True)
        assert "Sign in with Discord" in page and "Sign in with Stand-in OpenID" in page
        assert "/login/upstream/discord?next=/account" in page


def test_new_discord_user_picks_a_username_and_is_signed_in(fed_app, fed_client, discord_stub):
    discord_stub.user = {**discord_stub.user, "id": "111", "email": "fresh@example.com"}
    _new_account_via_discord(fed_client, "fresh_one")
    assert fed_client.get("/account").status_code == 200
    with fed_app.app_context():
        user = db.session.scalar(db.select(User).where(User.username == "fresh_one"))
        assert user.email == "fresh@example.com" and user.password_hash == ""
    assert _links(fed_app) == [(user.id, "discord", "111")]
    assert _events(fed_app, "upstream.linked")
    # Next time the same Discord account signs straight in, and it is audited.
    fed_client.get("/logout")
    fed_client.post("/logout", data={"csrf_token": csrf_token(fed_client, "/logout")})
    back = upstream_round_trip(fed_client, "/login/upstream/discord?next=/account")
    assert back.status_code == 303 and back.headers["Location"] == "/account"
    assert len(_events(fed_app, "upstream.sign_in")) == 1


def test_federation_never_links_silently(fed_app, fed_client, discord_stub):
    """docs/security.md#31: a verified e-mail matching an account asks for its password first."""
    _register(fed_client, "trader", "trader@example.com")
    fed_client.post("/logout", data={"csrf_token": csrf_token(fed_client, "/logout")})
    discord_stub.user = {**discord_stub.user, "id": "222", "email": "trader@example.com"}
    back = upstream_round_trip(fed_client, "/login/upstream/discord?next=/account")
    assert back.status_code == 303
    assert urlsplit(back.headers["Location"]).path == "/login"
    assert _links(fed_app) == []  # nothing linked, nobody signed in
    assert fed_client.get("/account").status_code == 303
    login_page = fed_client.get(back.headers["Location"]).get_data(as_text=True)
    assert "An account with this e-mail exists" in login_page
    # The normal login (with whatever second factor it has), then the link is made.
    token = csrf_token(fed_client, back.headers["Location"])
    signed = fed_client.post(
        back.headers["Location"],
        data={"login": "trader", "password": PASSWORD, "csrf_token": token},
    )
    assert signed.headers["Location"] == "/login/upstream/complete"
    done = fed_client.get("/login/upstream/complete")
    assert done.status_code == 303
    with fed_app.app_context():
        trader = db.session.scalar(db.select(User).where(User.username == "trader"))
    assert _links(fed_app) == [(trader.id, "discord", "222")]


def test_collision_then_signing_in_to_another_account_links_nothing(
    fed_app, fed_client, discord_stub
):
    _register(fed_client, "trader", "trader@example.com")
    fed_client.post("/logout", data={"csrf_token": csrf_token(fed_client, "/logout")})
    _register(fed_client, "other", "other@example.com")
    fed_client.post("/logout", data={"csrf_token": csrf_token(fed_client, "/logout")})
    discord_stub.user = {**discord_stub.user, "id": "333", "email": "trader@example.com"}
    back = upstream_round_trip(fed_client, "/login/upstream/discord")
    token = csrf_token(fed_client, back.headers["Location"])
    fed_client.post(
        back.headers["Location"], data={"login": "other", "password": PASSWORD, "csrf_token": token}
    )
    refused = fed_client.get("/login/upstream/complete")
    assert refused.status_code == 409 and b"different account" in refused.data
    assert _links(fed_app) == []


def test_unverified_email_never_counts_as_a_match(fed_app, fed_client, discord_stub):
    _register(fed_client, "trader", "trader@example.com")
    fed_client.post("/logout", data={"csrf_token": csrf_token(fed_client, "/logout")})
    discord_stub.user = {**discord_stub.user, "id": "444", "email": "trader@example.com",
                         "verified": False}  # fmt: skip
    back = upstream_round_trip(fed_client, "/login/upstream/discord")
    assert back.headers["Location"] == "/login/upstream/username"
    token = csrf_token(fed_client, "/login/upstream/username")
    refused = fed_client.post(
        "/login/upstream/username", data={"username": "someone", "csrf_token": token}
    )
    assert refused.status_code == 409 and b"no verified e-mail" in refused.data
    assert _links(fed_app) == []


def test_link_while_signed_in_then_unlink(fed_app, fed_client, discord_stub):
    _register(fed_client)
    page = fed_client.get("/account/linked")
    assert page.status_code == 200 and b"Link Discord" in page.data
    token = csrf_token(fed_client, "/account/linked")
    discord_stub.user = {**discord_stub.user, "id": "555"}
    back = upstream_round_trip(
        fed_client, "/account/linked/discord/link", method="POST", data={"csrf_token": token}
    )
    assert back.status_code == 303 and back.headers["Location"] == "/account/linked"
    assert [link[1:] for link in _links(fed_app)] == [("discord", "555")]
    assert b"nelly" in fed_client.get("/account/linked").data
    gone = fed_client.post("/account/linked/discord/unlink", data={"csrf_token": token})
    assert gone.status_code == 303 and _links(fed_app) == []
    assert _events(fed_app, "upstream.unlinked")


def test_one_discord_account_links_to_one_tessera_account(fed_app, fed_client, discord_stub):
    discord_stub.user = {**discord_stub.user, "id": "666", "email": "first@example.com"}
    _new_account_via_discord(fed_client, "first")
    fed_client.post("/logout", data={"csrf_token": csrf_token(fed_client, "/logout")})
    _register(fed_client, "second", "second@example.com")
    token = csrf_token(fed_client, "/account/linked")
    refused = upstream_round_trip(
        fed_client, "/account/linked/discord/link", method="POST", data={"csrf_token": token}
    )
    assert refused.status_code == 409 and b"already linked to another" in refused.data
    assert len(_links(fed_app)) == 1


def test_unlinking_the_last_way_to_sign_in_is_refused(fed_app, fed_client, discord_stub):
    discord_stub.user = {**discord_stub.user, "id": "777", "email": "only@example.com"}
    _new_account_via_discord(fed_client, "only")
    token = csrf_token(fed_client, "/account/linked")
    fed_client.post("/account/linked/discord/unlink", data={"csrf_token": token})
    assert len(_links(fed_app)) == 1
    assert b"only way to sign in" in fed_client.get("/account/linked").data


def test_sign_in_with_a_generic_openid_provider(fed_app, fed_client, standin_oidc):
    back = upstream_round_trip(fed_client, "/login/upstream/standin?next=/account")
    assert back.headers["Location"] == "/login/upstream/username"
    token = csrf_token(fed_client, "/login/upstream/username")
    fed_client.post("/login/upstream/username", data={"username": "olga", "csrf_token": token})
    assert [link[1:] for link in _links(fed_app)] == [("standin", "oidc-user-1")]


def test_an_id_token_that_does_not_validate_signs_nobody_in(fed_app, fed_client, standin_oidc):
    for tamper in ("signature", "nonce", "audience", "expired", "issuer"):
        standin_oidc.id_token_tamper = tamper
        try:
            failed = upstream_round_trip(fed_client, "/login/upstream/standin")
        finally:
            standin_oidc.id_token_tamper = None
        assert failed.status_code == 502, tamper
        assert b"could not be verified" in failed.data, tamper
        assert fed_client.get("/account").status_code == 303
    assert _links(fed_app) == []


def test_upstream_failures_end_on_a_clear_page(fed_app, fed_client, discord_stub):
    discord_stub.deny = True
    denied = upstream_round_trip(fed_client, "/login/upstream/discord")
    assert denied.status_code == 502 and b"you cancelled" in denied.data
    discord_stub.deny = False
    discord_stub.token_error = "invalid_grant"
    refused = upstream_round_trip(fed_client, "/login/upstream/discord")
    assert refused.status_code == 502 and b"could not be reached" in refused.data
    discord_stub.token_error = None
    discord_stub.me_down = True
    down = upstream_round_trip(fed_client, "/login/upstream/discord")
    assert down.status_code == 502 and b"could not be reached" in down.data
    discord_stub.me_down = False
    discord_stub.token_delay = 2.0  # the stand-in answers after TESSERA_UPSTREAM_TIMEOUT (1 s)
    slow = upstream_round_trip(fed_client, "/login/upstream/discord")
    assert slow.status_code == 502 and b"did not answer in time" in slow.data
    assert fed_client.get("/account").status_code == 303
    assert _links(fed_app) == []


def test_state_mismatch_and_unstarted_callbacks_are_refused(fed_client, discord_stub):
    first = fed_client.get("/login/upstream/discord")
    upstream = requests.get(first.headers["Location"], allow_redirects=False, timeout=5)
    back = urlsplit(upstream.headers["Location"])
    forged = back.query.replace("state=", "state=x")
    mismatch = fed_client.get(f"{back.path}?{forged}")
    assert mismatch.status_code == 400 and b"expired or was not started here" in mismatch.data
    # The flow was used up: replaying the genuine callback is refused too.
    replay = fed_client.get(f"{back.path}?{back.query}")
    assert replay.status_code == 400
    assert fed_client.get("/login/upstream/nosuch").status_code == 404


def test_two_requests_racing_for_one_discord_account_never_500(
    fed_app, fed_client, discord_stub, monkeypatch
):
    """The unique constraint catches what the check before it could not see."""
    from idp.services import federation
    from idp.storage.unit_of_work import SqlAlchemyUnitOfWork

    discord_stub.user = {**discord_stub.user, "id": "888", "email": "racer@example.com"}
    _register(fed_client, "racer", "racer@example.com")
    token = csrf_token(fed_client, "/account/linked")
    real_link = federation.link
    links = SqlAlchemyUnitOfWork.upstream_links

    def link_after_a_competitor(uow, caller, user, identity):
        # A competing request links the same Discord account between the check and the insert.
        db.session.add(UpstreamLink(user_id=user.id, provider="discord", subject="888"))
        db.session.commit()
        monkeypatch.setattr(links, "by_subject", lambda *a: None)
        monkeypatch.setattr(links, "of_user", lambda *a: None)
        return real_link(uow, caller, user, identity)

    monkeypatch.setattr(federation, "link", link_after_a_competitor)
    raced = upstream_round_trip(
        fed_client, "/account/linked/discord/link", method="POST", data={"csrf_token": token}
    )
    assert raced.status_code == 409 and b"a moment ago" in raced.data
    assert len(_links(fed_app)) == 1


def test_upstream_sign_in_still_asks_for_the_second_factor(fed_app, fed_client, discord_stub):
    from tests.security.mfa_helpers import enrol_totp, user_id_of

    discord_stub.user = {**discord_stub.user, "id": "777", "email": "mfa@example.com"}
    _new_account_via_discord(fed_client, "mfa_user")
    enrol_totp(fed_app, user_id_of(fed_app, "mfa_user"))
    fed_client.post("/logout", data={"csrf_token": csrf_token(fed_client, "/logout")})
    back = upstream_round_trip(fed_client, "/login/upstream/discord?next=/account")
    assert back.status_code == 303 and back.headers["Location"].endswith("/login/second-factor")
    assert fed_client.get("/account").status_code != 200
