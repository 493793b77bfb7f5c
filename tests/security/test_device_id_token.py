"""Issue 12 item 6: the device grant (RFC 8628) with `openid` returns an ID token as the code
flow does (OIDC Core 3.1.3.3, 3.1.3.6-3.1.3.7): RS256, aud = the app, auth_time, at_hash."""

from __future__ import annotations

import jwt
import pytest

from idp.services.tokens import half_hash
from tests.integration.test_device_flow import _register, decide, poll, started

ISSUER = "http://localhost"


@pytest.fixture
def device_app(app) -> str:
    return _register(app, "Trade Terminal", "device")


@pytest.fixture
def signed_in(auth, user):
    assert auth.login().status_code == 303
    return auth.client


def device_tokens(client, device_app: str, scope: str) -> dict:
    body = started(client, device_app, scope)
    decide(client, body["user_code"])
    response = poll(client, device_app, body["device_code"])
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_oidc_core_3_1_3_3_device_grant_with_openid_returns_an_id_token(
    app, client, signed_in, device_app
):
    tokens = device_tokens(client, device_app, "openid profile offline_access")
    id_token = tokens["id_token"]
    header = jwt.get_unverified_header(id_token)
    assert header["alg"] == "RS256"
    with app.app_context():
        key = app.extensions["tessera"].keystore.public_key_for(header["kid"])
    claims = jwt.decode(id_token, key, algorithms=["RS256"], audience=device_app, issuer=ISSUER)
    access = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert claims["sub"] == access["sub"] and claims["azp"] == device_app
    assert isinstance(claims["auth_time"], int) and claims["auth_time"] <= claims["iat"]
    assert claims["at_hash"] == half_hash(tokens["access_token"], "RS256")
    assert "nonce" not in claims  # a device request carries none
    assert claims["preferred_username"] == "trader"  # the profile scope's claims


def test_oidc_device_grant_without_openid_returns_no_id_token(client, signed_in, device_app):
    tokens = device_tokens(client, device_app, "orders:read offline_access")
    assert "id_token" not in tokens
