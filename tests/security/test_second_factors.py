"""Second factors at sign-in (docs/security.md#31): TOTP and recovery codes required after the
password, wrong codes throttled, replays refused, amr/acr in the ID token, acr_values step-up
or refusal, and the admin enrolment requirement. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from freezegun import freeze_time
from sqlalchemy import select

from idp.domain.claims import ACR_MFA, ACR_PASSWORD
from idp.extensions import db
from idp.storage.models import TotpFactor
from tests.conftest import csrf_token
from tests.security.conftest import Flow, query_of
from tests.security.mfa_helpers import T0, code_at, enrol_totp, make_admin, user_id_of
from tests.security.test_oidc import id_token_claims


def _code(client, code: str, path: str = "/login/second-factor"):
    return client.post(path, data={"code": code, "csrf_token": csrf_token(client, path)})


def _signed_in(client) -> bool:
    return client.get("/account").status_code == 200


def test_checklist_35_second_factors_are_required_after_the_password(app, client, auth, user):
    secret, _codes = enrol_totp(app, user_id_of(app))
    with freeze_time(T0 + timedelta(minutes=5)):
        response = auth.login(next_url="/account/security")
        assert response.status_code == 303
        assert response.headers["Location"].endswith("/login/second-factor")
        assert not _signed_in(client)  # no session before the factor
        assert _code(client, "000000").status_code == 401
        assert not _signed_in(client)
        good = code_at(secret, T0 + timedelta(minutes=5))
        response = _code(client, good)
        assert response.status_code == 303
        assert response.headers["Location"] == "/account/security"
        assert _signed_in(client)
        # The same code again, in another sign-in within its window: refused (replay).
        auth.logout()
        auth.login()
        assert _code(client, good).status_code == 401
        assert not _signed_in(client)


def test_checklist_35_wrong_codes_are_throttled(app, client, auth, user):
    enrol_totp(app, user_id_of(app))
    auth.login()
    statuses = [_code(client, f"{n:06d}").status_code for n in range(1, 7)]
    assert statuses[:5] == [401] * 5 and statuses[5] == 429


def test_checklist_35_recovery_codes_work_once(app, client, auth, user):
    _secret, codes = enrol_totp(app, user_id_of(app))
    assert len(codes) == 10 and len(set(codes)) == 10
    auth.login()
    assert _code(client, codes[0].upper()).status_code == 303  # case and dashes forgiven
    auth.logout()
    auth.login()
    assert _code(client, codes[0]).status_code == 401
    assert _code(client, codes[1]).status_code == 303


def test_pending_sign_in_expires(app, client, auth, user):
    secret, _ = enrol_totp(app, user_id_of(app))
    with freeze_time(T0 + timedelta(minutes=1)) as frozen:
        auth.login()
        token = csrf_token(client, "/login/second-factor")
        frozen.tick(timedelta(seconds=301))
        code = code_at(secret, T0, 361)
        response = client.post("/login/second-factor", data={"code": code, "csrf_token": token})
        assert response.status_code == 303 and response.headers["Location"].endswith("/login")
        assert not _signed_in(client)


def test_totp_secret_is_encrypted_at_rest(app, user):
    secret, _ = enrol_totp(app, user_id_of(app))
    with app.app_context():
        stored = db.session.scalar(select(TotpFactor.secret_encrypted))
        assert stored and secret not in stored


# --- amr and acr in the ID token ---------------------------------------------------------------


def test_id_token_amr_and_acr_for_a_password_sign_in(app, flow, web_app):
    claims = id_token_claims(app, flow.tokens(web_app)["id_token"])
    assert claims["amr"] == ["pwd"] and claims["acr"] == ACR_PASSWORD


def test_id_token_amr_and_acr_after_a_second_factor(app, client, auth, user, web_app):
    secret, _ = enrol_totp(app, user_id_of(app))
    with freeze_time(T0 + timedelta(minutes=2)):
        auth.login()
        assert _code(client, code_at(secret, T0, 120)).status_code == 303
        tokens = Flow(client).tokens(web_app)
    claims = id_token_claims(app, tokens["id_token"])
    assert claims["amr"] == ["pwd", "otp", "mfa"] and claims["acr"] == ACR_MFA


def test_discovery_advertises_acr_values(client):
    doc = client.get("/.well-known/openid-configuration").get_json()
    assert doc["acr_values_supported"] == [ACR_PASSWORD, ACR_MFA]
    assert "acr" in doc["claims_supported"]


# --- acr_values: step up, enrol or refuse -------------------------------------------------------


def test_acr_values_mfa_steps_up_a_password_session(app, client, auth, user, web_app):
    with freeze_time(T0 - timedelta(minutes=10)):
        auth.login()  # signed in before any factor existed: amr pwd
    secret, _ = enrol_totp(app, user_id_of(app))  # enrolled elsewhere; this session is still pwd
    with freeze_time(T0 + timedelta(minutes=3)):
        flow = Flow(client)
        response = flow.authorize(web_app, acr_values=ACR_MFA)
        assert response.status_code == 303
        assert response.headers["Location"].endswith("/login/second-factor")
        response = _code(client, code_at(secret, T0, 180))
        assert response.status_code == 303
        assert response.headers["Location"].startswith("/oauth/authorize?")
        tokens = flow.tokens(web_app, acr_values=ACR_MFA)
    claims = id_token_claims(app, tokens["id_token"])
    assert claims["acr"] == ACR_MFA and "otp" in claims["amr"]


def test_acr_values_pwd_or_mfa_is_met_by_a_password(app, flow, web_app):
    claims = id_token_claims(
        app, flow.tokens(web_app, acr_values=f"{ACR_PASSWORD} {ACR_MFA}")["id_token"]
    )
    assert claims["acr"] == ACR_PASSWORD


def test_acr_values_mfa_without_a_factor_offers_enrolment_or_refuses(client, flow, web_app):
    response = flow.authorize(web_app, acr_values=ACR_MFA)
    assert response.status_code == 303
    assert "/login/factor-required" in response.headers["Location"]
    page = client.get(response.headers["Location"])
    assert b"Set up a second factor" in page.data
    token = csrf_token(client, response.headers["Location"])
    back = client.post(response.headers["Location"], data={"csrf_token": token})
    assert back.status_code == 303
    refused = client.get(back.headers["Location"])
    assert refused.status_code == 303
    query = query_of(refused.headers["Location"])
    assert refused.headers["Location"].startswith(web_app.redirect_uri)
    assert query["error"] == "unmet_authentication_requirements" and query["state"] == "st-123"


def test_acr_values_mfa_with_prompt_none_is_refused_at_once(flow, web_app):
    response = flow.authorize(web_app, acr_values=ACR_MFA, prompt="none")
    assert response.status_code == 303
    assert query_of(response.headers["Location"])["error"] == "unmet_authentication_requirements"


# --- admins -------------------------------------------------------------------------------------


@pytest.mark.parametrize("required", [True, False])
def test_checklist_35_admins_enrol_before_the_admin_pages(make_app, user, required):
    from tests.conftest import AuthActions

    app = make_app(REQUIRE_MFA_FOR_ADMINS=required)
    make_admin(app, user_id_of(app))
    client = app.test_client()
    AuthActions(client).login()
    response = client.get("/admin/requests")
    if not required:
        assert response.status_code == 200
        return
    assert response.status_code == 303
    assert "/account/security?next=/admin/requests&required=admin" in response.headers["Location"]
    enrol_totp(app, user_id_of(app))
    assert client.get("/admin/requests").status_code == 200


def test_require_mfa_for_admins_defaults_on_in_production_only():
    from idp.config import Settings

    assert Settings(ENV="production").require_mfa_for_admins is True
    assert Settings().require_mfa_for_admins is False
    assert Settings(ENV="production", REQUIRE_MFA_FOR_ADMINS=False).require_mfa_for_admins is False
