"""RFC 8628, the Device Authorization Grant: /oauth/device_authorization, /device, polling."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from freezegun import freeze_time
from sqlalchemy import select

from idp.errors import InvalidGrant
from idp.extensions import db
from idp.services import apps
from idp.services.context import Caller
from idp.storage.models import AuditEvent, DeviceCode, Grant
from idp.storage.unit_of_work import SqlAlchemyUnitOfWork
from tests.conftest import csrf_token

ISSUER = "http://localhost"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
SCOPE = "openid profile offline_access orders:read orders:write"
CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
PENDING_RE = re.compile(r'name="pending_id" value="([^"]+)"')
USER_CODE_RE = re.compile(r"^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$")


def _register(app, name: str, app_type: str, redirect_uris=()) -> str:
    with app.app_context():
        client, _secret = apps.create_client(
            SqlAlchemyUnitOfWork(),
            app.extensions["tessera"].catalogue,
            Caller(),
            apps.ClientSpec(
                name=name,
                app_type=app_type,
                redirect_uris=list(redirect_uris),
                scopes=SCOPE.split(),
            ),
            owner_id=None,
            allow_restricted=True,
        )
        return client.client_id


@pytest.fixture
def device_app(app) -> str:
    return _register(app, "Trade Terminal", "device")


@pytest.fixture
def signed_in(auth, user):
    assert auth.login().status_code == 303
    return auth.client


def start(client, client_id: str, scope: str = SCOPE):
    return client.post("/oauth/device_authorization", data={"client_id": client_id, "scope": scope})


def started(client, client_id: str, scope: str = SCOPE) -> dict:
    response = start(client, client_id, scope)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def poll(client, client_id: str, device_code: str):
    return client.post(
        "/oauth/token",
        data={"grant_type": DEVICE_GRANT, "device_code": device_code, "client_id": client_id},
    )


def error_of(response) -> str:
    assert response.status_code in (400, 401), response.status_code
    assert response.headers["Cache-Control"] == "no-store"
    return response.get_json()["error"]


def enter_code(client, user_code: str):
    return client.post(
        "/device", data={"user_code": user_code, "csrf_token": csrf_token(client, "/device")}
    )


def decide(client, user_code: str, decision: str = "allow"):
    page = enter_code(client, user_code)
    assert page.status_code == 200, page.get_data(as_text=True)[:500]
    html = page.get_data(as_text=True)
    return client.post(
        "/device/decide",
        data={
            "csrf_token": CSRF_RE.search(html).group(1),
            "pending_id": PENDING_RE.search(html).group(1),
            "decision": decision,
        },
    )


def decode(app, token: str) -> dict:
    with app.app_context():
        key = app.extensions["tessera"].keystore.public_key_for(
            jwt.get_unverified_header(token)["kid"]
        )
    return jwt.decode(
        token, key, algorithms=["ES256", "RS256", "EdDSA"], audience=f"{ISSUER}/api", issuer=ISSUER
    )


def test_rfc8628_3_2_device_authorization_response(app, client, device_app):
    response = start(client, device_app)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert len(body["device_code"]) >= 43  # 256 random bits, base64url
    assert USER_CODE_RE.match(body["user_code"])
    assert body["verification_uri"] == f"{ISSUER}/device"
    query = parse_qs(urlsplit(body["verification_uri_complete"]).query)
    assert query["user_code"] == [body["user_code"]]
    assert body["expires_in"] == 600 and body["interval"] == 5
    with app.app_context():
        row = db.session.scalar(select(DeviceCode))
    # Only the digest of the device code is stored; the user code is stored without its dash.
    assert row.device_code_digest != body["device_code"]
    assert row.user_code == body["user_code"].replace("-", "")
    assert row.status == "pending" and row.scope == SCOPE


def test_rfc8628_3_3_full_flow_sign_in_approve_and_poll(app, client, auth, user, device_app):
    body = started(client, device_app)
    page = client.get(body["verification_uri_complete"].removeprefix(ISSUER))
    assert page.status_code == 303 and "/login" in page.headers["Location"]
    next_url = parse_qs(urlsplit(page.headers["Location"]).query)["next"][0]
    assert next_url == f"/device?user_code={body['user_code']}"
    signed = auth.login(next_url=next_url)
    assert signed.status_code == 303 and signed.headers["Location"] == next_url
    form = client.get(next_url).get_data(as_text=True)
    assert f'value="{body["user_code"]}"' in form  # prefilled, the user checks and confirms

    consent = enter_code(client, body["user_code"]).get_data(as_text=True)
    assert "Trade Terminal" in consent and "/apps/" in consent and "Not verified" in consent
    scope_list = consent.split('class="scope-list"')[1].split("</ul>")[0]
    assert scope_list.count("<li") == 5 and 'class="restricted"' in scope_list  # orders:write
    done = decide(client, body["user_code"])
    assert done.status_code == 303 and done.headers["Location"].endswith("/device/done")
    assert "return to your device" in client.get("/device/done").get_data(as_text=True)

    response = poll(client, device_app, body["device_code"])
    assert response.status_code == 200, response.get_json()
    assert response.headers["Cache-Control"] == "no-store"
    tokens = response.get_json()
    claims = decode(app, tokens["access_token"])
    with app.app_context():
        grant = db.session.scalar(select(Grant))
        events = {e.event for e in db.session.scalars(select(AuditEvent))}
    assert claims["gid"] == grant.gid and claims["client_id"] == device_app
    assert claims["sub"] and set(claims["scope"].split()) == set(SCOPE.split())
    assert tokens["refresh_token"] and tokens["scope"] == SCOPE
    assert {"consent.granted", "device.approved"} <= events


def test_rfc8628_3_5_refreshed_token_works(app, client, signed_in, device_app):
    body = started(client, device_app)
    decide(client, body["user_code"])
    first = poll(client, device_app, body["device_code"]).get_json()
    refreshed = client.post(
        "/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": first["refresh_token"],
            "client_id": device_app,
        },
    )
    assert refreshed.status_code == 200, refreshed.get_json()
    second = refreshed.get_json()
    assert second["refresh_token"] != first["refresh_token"]
    assert decode(app, second["access_token"])["gid"] == decode(app, first["access_token"])["gid"]
    userinfo = client.get(
        "/oauth/userinfo", headers={"Authorization": f"Bearer {second['access_token']}"}
    )
    assert userinfo.status_code == 200 and userinfo.get_json()["sub"]


def test_rfc8628_3_5_no_refresh_token_without_offline_access(app, client, signed_in, device_app):
    body = started(client, device_app, scope="openid orders:read")
    decide(client, body["user_code"])
    tokens = poll(client, device_app, body["device_code"]).get_json()
    assert tokens["access_token"] and "refresh_token" not in tokens


def test_rfc8628_3_5_authorization_pending(client, device_app):
    body = started(client, device_app)
    assert error_of(poll(client, device_app, body["device_code"])) == "authorization_pending"


def test_rfc8628_3_5_slow_down_adds_five_seconds(app, client, device_app):
    with freeze_time(datetime.now(UTC)) as frozen:
        body = started(client, device_app)
        assert error_of(poll(client, device_app, body["device_code"])) == "authorization_pending"
        frozen.tick(timedelta(seconds=2))
        # The poll time survives the token endpoint's rollback of error responses.
        assert error_of(poll(client, device_app, body["device_code"])) == "slow_down"
        frozen.tick(timedelta(seconds=6))  # enough for the old 5 s, not for the new 10 s
        assert error_of(poll(client, device_app, body["device_code"])) == "slow_down"
        frozen.tick(timedelta(seconds=15))
        assert error_of(poll(client, device_app, body["device_code"])) == "authorization_pending"
    with app.app_context():
        assert db.session.scalar(select(DeviceCode.interval)) == 15


def test_rfc8628_3_5_expired_token(client, signed_in, device_app):
    with freeze_time(datetime.now(UTC)) as frozen:
        body = started(client, device_app)
        frozen.tick(timedelta(seconds=601))
        assert error_of(poll(client, device_app, body["device_code"])) == "expired_token"
        page = enter_code(client, body["user_code"])
    assert page.status_code == 400 and "expired" in page.get_data(as_text=True)


def test_rfc8628_3_5_access_denied(app, client, signed_in, device_app):
    body = started(client, device_app)
    done = decide(client, body["user_code"], decision="deny")
    assert done.status_code == 303
    assert "not given access" in client.get("/device/done").get_data(as_text=True)
    assert error_of(poll(client, device_app, body["device_code"])) == "access_denied"
    with app.app_context():
        assert db.session.scalar(select(Grant)) is None
        assert db.session.scalar(select(DeviceCode.status)) == "denied"


def test_rfc8628_3_5_device_code_redeemed_once(client, signed_in, device_app):
    body = started(client, device_app)
    decide(client, body["user_code"])
    assert poll(client, device_app, body["device_code"]).status_code == 200
    assert error_of(poll(client, device_app, body["device_code"])) == "invalid_grant"
    # The consumed code cannot be approved again either.
    page = enter_code(client, body["user_code"])
    assert page.status_code == 400 and "already used" in page.get_data(as_text=True)


def test_rfc8628_3_5_redemption_is_atomic(app, client, signed_in, device_app):
    """Two polls that both read the code as approved: the conditional UPDATE lets one through."""
    body = started(client, device_app)
    decide(client, body["user_code"])
    with app.test_request_context():
        flow, uow = app.extensions["tessera"].device_flow, SqlAlchemyUnitOfWork()
        row = db.session.scalar(select(DeviceCode))

        first = flow.redeem(uow, row.user_code)
        assert first.user.id == row.user_id and first.row is row
        assert row.status == "approved"  # the stale in-memory view the racing poll would have
        with pytest.raises(InvalidGrant):
            flow.redeem(uow, row.user_code)
        db.session.rollback()


def test_rfc8628_3_1_unknown_client_and_wrong_app_type(app, client, device_app):
    assert error_of(start(client, "no-such-client")) == "invalid_client"
    spa = _register(app, "Overlay", "spa", ["http://127.0.0.1/callback"])
    assert error_of(start(client, spa)) == "unauthorized_client"
    body = started(client, device_app)
    # A public app of another type cannot use the device grant at the token endpoint.
    assert error_of(poll(client, spa, body["device_code"])) == "unauthorized_client"
    # A device code is bound to the app it was issued to.
    other = _register(app, "Other Terminal", "device")
    assert error_of(poll(client, other, body["device_code"])) in (
        "invalid_grant",
        "unauthorized_client",
    )
    assert error_of(poll(client, device_app, "not-a-device-code")) == "invalid_grant"


def test_rfc8628_3_1_scope_checked_by_app_policy(client, device_app):
    assert error_of(start(client, device_app, scope="openid chat:read")) == "invalid_scope"
    assert error_of(start(client, device_app, scope="openid nonsense")) == "invalid_scope"
    assert error_of(start(client, device_app, scope="")) == "invalid_scope"
    response = client.post(
        "/oauth/device_authorization",
        data={"client_id": device_app, "scope": "openid"},
        query_string={"scope": "orders:write"},
    )
    assert error_of(response) == "invalid_request"


def test_rfc8628_5_1_bad_user_code_gets_message_and_is_throttled(client, signed_in, device_app):
    body = started(client, device_app)
    wrong = enter_code(client, "BCDF-GHJK" if body["user_code"] != "BCDF-GHJK" else "BCDF-GHJL")
    assert wrong.status_code == 400
    assert "No device is waiting for that code" in wrong.get_data(as_text=True)
    malformed = enter_code(client, "12345")
    assert malformed.status_code == 400 and "not a valid code" in malformed.get_data(as_text=True)
    for _ in range(3):
        assert enter_code(client, "ZZZZ-ZZZZ").status_code == 400
    blocked = enter_code(client, body["user_code"])  # even the right code waits now
    assert blocked.status_code == 429 and "Too many wrong codes" in blocked.get_data(as_text=True)
    assert int(blocked.headers["Retry-After"]) > 0


def test_rfc8628_3_3_user_code_is_case_and_dash_insensitive(client, signed_in, device_app):
    body = started(client, device_app)
    typed = body["user_code"].lower().replace("-", " ")
    page = enter_code(client, typed)
    assert page.status_code == 200 and "Trade Terminal" in page.get_data(as_text=True)


def test_checklist_10_device_approve_without_csrf_is_400(app, client, signed_in, device_app):
    body = started(client, device_app)
    html = enter_code(client, body["user_code"]).get_data(as_text=True)
    response = client.post(
        "/device/decide",
        data={"pending_id": PENDING_RE.search(html).group(1), "decision": "allow"},
    )
    assert response.status_code == 400
    assert error_of(poll(client, device_app, body["device_code"])) == "authorization_pending"
    missing = client.post("/device", data={"user_code": body["user_code"]})
    assert missing.status_code == 400


def test_checklist_10_device_decision_bound_to_pending_code(client, signed_in, device_app):
    body = started(client, device_app)
    html = enter_code(client, body["user_code"]).get_data(as_text=True)
    response = client.post(
        "/device/decide",
        data={
            "csrf_token": CSRF_RE.search(html).group(1),
            "pending_id": "forged",
            "decision": "allow",
        },
    )
    assert response.status_code == 400
    assert error_of(poll(client, device_app, body["device_code"])) == "authorization_pending"


def test_checklist_9_device_pages_carry_security_headers(client, signed_in):
    page = client.get("/device")
    assert page.status_code == 200
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["Cache-Control"] == "no-store"
