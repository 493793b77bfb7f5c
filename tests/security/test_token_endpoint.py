"""docs/security.md#12-#17: the token endpoint (RFC 6749 4-6, RFC 9700 4.2-4.14, RFC 7636)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest
from freezegun import freeze_time
from sqlalchemy import select

from idp.domain.credentials import digest_secret
from idp.extensions import db
from idp.storage.models import AuditEvent, ClientSecret, RefreshToken, RevocationEvent

ISSUER = "http://localhost"


def decode(app, token: str) -> dict:
    with app.app_context():
        keystore = app.extensions["tessera"].keystore
        key = keystore.public_key_for(jwt.get_unverified_header(token)["kid"])
    return jwt.decode(
        token, key, algorithms=["ES256", "RS256", "EdDSA"], audience=f"{ISSUER}/api", issuer=ISSUER
    )


def test_checklist_12_code_is_single_use_and_reuse_revokes_tokens(app, flow, web_app):
    code = flow.code(web_app, scope="openid offline_access")
    first = flow.exchange(web_app, code)
    assert first.status_code == 200
    again = flow.exchange(web_app, code)
    assert again.status_code == 400 and again.get_json()["error"] == "invalid_grant"
    # The refresh token from the first exchange is dead, and the access token is in the feed.
    assert flow.refresh(web_app, first.get_json()["refresh_token"]).status_code == 400
    jti = decode(app, first.get_json()["access_token"])["jti"]
    with app.app_context():
        kinds = {(e.kind, e.subject) for e in db.session.scalars(select(RevocationEvent))}
    assert ("token", jti) in kinds
    with app.app_context():
        events = [e.event for e in db.session.scalars(select(AuditEvent))]
    assert "authorization_code.replayed" in events


def test_checklist_12_code_expires_within_ten_minutes(flow, web_app):
    with freeze_time(datetime.now(UTC)) as frozen:
        code = flow.code(web_app)
        frozen.tick(timedelta(seconds=601))
        response = flow.exchange(web_app, code)
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_grant"


def test_checklist_12_code_bound_to_client(app, flow, web_app, spa_app):
    code = flow.code(web_app)
    response = flow.client.post(
        "/oauth/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": web_app.redirect_uri,
              "code_verifier": flow.verifier, "client_id": spa_app.client_id},
    )  # fmt: skip
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_grant"
    # Another app's attempt does not use the code up: its own app can still redeem it.
    assert flow.exchange(web_app, code).status_code == 200


def test_checklist_12_code_bound_to_redirect_uri(flow, web_app):
    code = flow.code(web_app)
    response = flow.exchange(web_app, code, redirect_uri="https://app.example.com/other")
    assert response.get_json()["error"] == "invalid_grant"


def test_checklist_12_code_bound_to_pkce_challenge(flow, web_app):
    code = flow.code(web_app)
    response = flow.exchange(web_app, code, verifier="x" * 64)
    assert response.get_json()["error"] == "invalid_grant"


def test_checklist_13_refresh_token_opaque_and_stored_hashed(app, flow, web_app):
    tokens = flow.tokens(web_app, scope="openid offline_access")
    refresh = tokens["refresh_token"]
    assert refresh.count(".") == 0 and len(refresh) >= 43  # opaque, >= 256 bits
    with app.app_context():
        stored = db.session.scalars(select(RefreshToken.digest)).all()
    assert refresh not in stored and digest_secret(refresh) in stored


def test_checklist_13_rotation_and_reuse_revokes_family(flow, web_app):
    with freeze_time(datetime.now(UTC)) as frozen:
        first = flow.tokens(web_app, scope="openid offline_access")["refresh_token"]
        second = flow.refresh(web_app, first).get_json()["refresh_token"]
        third = flow.refresh(web_app, second).get_json()["refresh_token"]
        frozen.tick(timedelta(seconds=5))  # past the concurrency grace: this is a replay
        reuse = flow.refresh(web_app, first)
        assert "family is revoked" in reuse.get_json()["error_description"]
        with flow.client.application.app_context():
            assert db.session.scalar(
                select(AuditEvent).where(AuditEvent.event == "refresh_token.replayed")
            )
        assert flow.refresh(web_app, third).get_json()["error"] == "invalid_grant"


def test_checklist_13_concurrent_repeat_within_grace_keeps_the_winner(make_app_client_flow):
    # The grace is off by default (RFC 9700 4.14.2); this is a deployment that turned it on.
    flow, _app, web_app = make_app_client_flow(REFRESH_TOKEN_REUSE_GRACE=2)
    first = flow.tokens(web_app, scope="openid offline_access")["refresh_token"]
    winner = flow.refresh(web_app, first).get_json()["refresh_token"]
    loser = flow.refresh(web_app, first)
    assert loser.status_code == 400 and "concurrent" in loser.get_json()["error_description"]
    assert flow.refresh(web_app, winner).status_code == 200


def test_checklist_13_refresh_bound_to_client(flow, web_app, spa_app):
    refresh = flow.tokens(web_app, scope="openid offline_access")["refresh_token"]
    response = flow.refresh(spa_app, refresh)
    assert response.get_json()["error"] == "invalid_grant"


def test_checklist_13_refresh_cannot_widen_scope(flow, web_app):
    refresh = flow.tokens(web_app, scope="openid offline_access")["refresh_token"]
    response = flow.refresh(web_app, refresh, scope="openid offline_access orders:write")
    assert response.get_json()["error"] == "invalid_scope"


def test_checklist_13_narrowed_refresh_keeps_the_grant_for_next_time(flow, web_app):
    refresh = flow.tokens(web_app, scope="openid orders:read offline_access")["refresh_token"]
    narrowed = flow.refresh(web_app, refresh, scope="orders:read").get_json()
    assert narrowed["scope"] == "orders:read"
    full = flow.refresh(web_app, narrowed["refresh_token"]).get_json()
    assert set(full["scope"].split()) == {"openid", "orders:read", "offline_access"}


def test_checklist_13_idle_expiry(app, flow, web_app):
    idle = app.extensions["tessera"].settings.REFRESH_TOKEN_IDLE_TTL
    with freeze_time(datetime.now(UTC)) as frozen:
        refresh = flow.tokens(web_app, scope="openid offline_access")["refresh_token"]
        frozen.tick(timedelta(seconds=idle + 1))
        assert flow.refresh(web_app, refresh).get_json()["error"] == "invalid_grant"


def test_checklist_13_absolute_expiry_despite_use(make_app_client_flow):
    flow, _app, web = make_app_client_flow(
        REFRESH_TOKEN_IDLE_TTL=3600, REFRESH_TOKEN_ABSOLUTE_TTL=7200
    )
    with freeze_time(datetime.now(UTC)) as frozen:
        refresh = flow.tokens(web, scope="openid offline_access")["refresh_token"]
        for _ in range(3):
            frozen.tick(timedelta(seconds=3000))
            response = flow.refresh(web, refresh)
            if response.status_code != 200:
                break
            refresh = response.get_json()["refresh_token"]
        assert response.status_code == 400 and response.get_json()["error"] == "invalid_grant"


def test_checklist_13_public_client_gets_refresh_only_with_offline_access(flow, spa_app):
    without = flow.tokens(spa_app, scope="openid")
    assert "refresh_token" not in without
    with_offline = flow.tokens(spa_app, scope="openid offline_access")
    assert "refresh_token" in with_offline


def test_checklist_14_confidential_client_must_authenticate(flow, web_app):
    code = flow.code(web_app)
    response = flow.client.post(
        "/oauth/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": web_app.redirect_uri,
              "code_verifier": flow.verifier, "client_id": web_app.client_id},
    )  # fmt: skip
    assert response.status_code in (400, 401) and response.get_json()["error"] == "invalid_client"


def test_checklist_14_client_secret_post_works(flow, web_app):
    code = flow.code(web_app)
    response = flow.client.post(
        "/oauth/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": web_app.redirect_uri,
              "code_verifier": flow.verifier, "client_id": web_app.client_id, "client_secret": web_app.secret},
    )  # fmt: skip
    assert response.status_code == 200


def test_checklist_14_secret_is_256_bits_and_stored_as_digest(app, web_app):
    assert len(web_app.secret) >= 43
    with app.app_context():
        stored = db.session.scalars(select(ClientSecret.digest)).all()
    assert web_app.secret not in stored and digest_secret(web_app.secret) in stored


def test_checklist_14_secret_rotation_overlap(app, client, service_app):
    from idp.services import apps
    from idp.services.context import Caller
    from idp.storage.unit_of_work import SqlAlchemyUnitOfWork

    with freeze_time(datetime.now(UTC)) as frozen:
        with app.app_context():
            uow = SqlAlchemyUnitOfWork()
            new_secret = apps.rotate_secret(
                uow, Caller(), uow.clients.by_client_id(service_app.client_id), 3600
            )
        new_app = type(service_app)(service_app.client_id, new_secret, "")
        grant = {"grant_type": "client_credentials"}
        assert (
            client.post("/oauth/token", data=grant, headers=service_app.basic()).status_code == 200
        )
        assert client.post("/oauth/token", data=grant, headers=new_app.basic()).status_code == 200
        frozen.tick(timedelta(seconds=3601))
        assert (
            client.post("/oauth/token", data=grant, headers=service_app.basic()).status_code == 401
        )
        assert client.post("/oauth/token", data=grant, headers=new_app.basic()).status_code == 200


def test_checklist_15_access_token_audience_restricted_and_short_lived(app, flow, web_app):
    tokens = flow.tokens(web_app)
    claims = decode(app, tokens["access_token"])
    assert claims["aud"] == f"{ISSUER}/api"
    assert (
        claims["exp"] - claims["iat"] == app.extensions["tessera"].settings.ACCESS_TOKEN_TTL <= 900
    )
    assert jwt.get_unverified_header(tokens["access_token"])["typ"] == "at+jwt"
    assert {"iss", "sub", "client_id", "scope", "jti", "gid", "tier"} <= set(claims)


def test_checklist_15_rfc8707_resource_sets_audience(make_app_client_flow):
    flow, _app, web = make_app_client_flow(ALLOWED_RESOURCES="https://ws.example.com")
    tokens = flow.tokens(web, resource="https://ws.example.com")
    assert (
        jwt.decode(tokens["access_token"], options={"verify_signature": False})["aud"]
        == "https://ws.example.com"
    )
    response = flow.authorize(web, resource="https://unknown.example.com")
    assert "error=invalid_target" in response.headers["Location"]


def test_checklist_16_no_store_on_success_and_error(flow, web_app, client):
    ok = flow.exchange(web_app, flow.code(web_app))
    bad = client.post(
        "/oauth/token",
        data={"grant_type": "authorization_code", "code": "nope"},
        headers=web_app.basic(),
    )
    for response in (ok, bad):
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["Pragma"] == "no-cache"
    assert set(bad.get_json()) >= {"error"}


def test_checklist_16_basic_failure_is_401_with_www_authenticate(client, web_app):
    wrong = type(web_app)(web_app.client_id, "wrong-secret", "")
    response = client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, headers=wrong.basic()
    )
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert response.get_json()["error"] == "invalid_client"


def test_checklist_17_repeated_parameter_is_an_error(client, service_app):
    response = client.post(
        "/oauth/token",
        data="grant_type=client_credentials&scope=market:read&scope=ws:connect",
        content_type="application/x-www-form-urlencoded",
        headers=service_app.basic(),
    )
    assert (
        response.status_code == 400
        and "Repeated parameter: scope" in response.get_json()["error_description"]
    )


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ('{"grant_type": "client_credentials"}', "application/json"),
        ("grant_type=client_credentials", "text/plain"),
        (b"grant_type=\xff\xfe", "application/x-www-form-urlencoded"),
        ("", "application/x-www-form-urlencoded"),
        ("grant_type=" + "x" * 5000, "application/x-www-form-urlencoded"),
    ],
)
def test_bad_input_at_token_endpoint_is_rfc_json(client, service_app, body, content_type):
    response = client.post(
        "/oauth/token", data=body, content_type=content_type, headers=service_app.basic()
    )
    assert 400 <= response.status_code < 500
    assert response.get_json()["error"] in ("invalid_request", "unsupported_grant_type")
    assert response.headers["Cache-Control"] == "no-store"


def test_client_credentials_machine_scopes_only(app, client, service_app):
    response = client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, headers=service_app.basic()
    )
    assert response.status_code == 200
    claims = decode(app, response.get_json()["access_token"])
    assert set(claims["scope"].split()) == {"market:read", "ws:connect"}
    assert claims["sub"] == service_app.client_id and "gid" not in claims
    assert claims["tier"] == {"name": "default", "rps": 3, "burst": 10}
    narrowed = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "orders:read"},
        headers=service_app.basic(),
    )
    assert narrowed.get_json()["error"] == "invalid_scope"


def test_web_app_cannot_use_client_credentials(client, web_app):
    response = client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, headers=web_app.basic()
    )
    assert response.get_json()["error"] == "unauthorized_client"


def test_suspended_app_is_unauthorized_client_at_token_endpoint(app, client, service_app):
    """Issue 15: after the client authenticated, the suspension is named (client_auth.py)."""
    from idp.services import apps
    from idp.services.context import Caller
    from idp.storage.unit_of_work import SqlAlchemyUnitOfWork

    with app.app_context():
        uow = SqlAlchemyUnitOfWork()
        apps.suspend(uow, Caller(), uow.clients.by_client_id(service_app.client_id), "abuse")
    response = client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, headers=service_app.basic()
    )
    assert response.status_code == 400 and response.get_json()["error"] == "unauthorized_client"
