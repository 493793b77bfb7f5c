"""RFC 8707 at the token endpoint (issue 12 item 5, docs/security.md#15): `resource` is
validated against the resources this server knows, names the token's `aud`, and for a code or a
refresh token may only name what the grant covers. A repeated `resource` is refused as
invalid_request (RFC 6749 3.1, docs/security.md#17): a token here has one audience."""

from __future__ import annotations

from urllib.parse import urlsplit

import jwt
import pytest
from tessera_middleware import TokenVerifier
from tessera_middleware.errors import InvalidToken
from tessera_middleware.http import HttpResponse

from idp.services import apps
from tests.security.conftest import register_app

ISSUER = "http://localhost"
DEFAULT = f"{ISSUER}/api"
WS = "https://ws.example.com"


@pytest.fixture
def configured(make_app_client_flow):
    flow, app, web = make_app_client_flow(ALLOWED_RESOURCES=WS)
    bot = register_app(
        app, apps.ClientSpec(name="Bot", app_type="service", scopes=["market:read", "ws:connect"])
    )
    return flow, app, web, bot


def aud(token: str) -> str:
    return jwt.decode(token, options={"verify_signature": False})["aud"]


def client_credentials(flow, bot, **extra):
    data = {"grant_type": "client_credentials", **extra}
    return flow.client.post("/oauth/token", data=data, headers=bot.basic())


def test_rfc8707_2_unknown_resource_at_the_token_endpoint_is_invalid_target(configured):
    flow, _app, web, bot = configured
    refused = client_credentials(flow, bot, resource="https://evil.example/")
    assert refused.status_code == 400 and refused.get_json()["error"] == "invalid_target"
    assert "evil" not in refused.get_json()["error_description"]  # request text is not echoed
    refresh = flow.tokens(web, scope="openid offline_access")["refresh_token"]
    again = flow.refresh(web, refresh, resource="https://evil.example/")
    assert again.get_json()["error"] == "invalid_target"


def test_rfc8707_2_client_credentials_resource_names_the_audience(configured):
    flow, _app, _web, bot = configured
    assert aud(client_credentials(flow, bot, resource=WS).get_json()["access_token"]) == WS
    assert aud(client_credentials(flow, bot).get_json()["access_token"]) == DEFAULT


def test_rfc8707_2_2_refresh_may_only_name_the_resource_its_grant_covers(configured):
    flow, _app, web, _bot = configured
    refresh = flow.tokens(web, scope="openid offline_access")["refresh_token"]
    other = flow.refresh(web, refresh, resource=WS)
    assert other.status_code == 400 and other.get_json()["error"] == "invalid_target"
    same = flow.refresh(web, refresh, resource=DEFAULT)
    assert same.status_code == 200 and aud(same.get_json()["access_token"]) == DEFAULT


def test_rfc8707_2_2_a_grant_for_a_resource_keeps_it_through_refresh(configured):
    flow, _app, web, _bot = configured
    first = flow.tokens(web, scope="openid offline_access", resource=WS)
    assert aud(first["access_token"]) == WS
    plain = flow.refresh(web, first["refresh_token"]).get_json()
    assert aud(plain["access_token"]) == WS
    named = flow.refresh(web, plain["refresh_token"], resource=WS).get_json()
    assert aud(named["access_token"]) == WS
    default = flow.refresh(web, named["refresh_token"], resource=DEFAULT)
    assert default.get_json()["error"] == "invalid_target"


def test_rfc8707_2_2_code_exchange_may_only_name_the_resource_of_the_code(configured):
    flow, _app, web, _bot = configured
    data = lambda code, resource: {  # noqa: E731
        "grant_type": "authorization_code", "code": code, "redirect_uri": web.redirect_uri,
        "code_verifier": flow.verifier, "resource": resource,
    }  # fmt: skip
    code = flow.code(web)
    refused = flow.client.post("/oauth/token", data=data(code, WS), headers=web.basic())
    assert refused.status_code == 400 and refused.get_json()["error"] == "invalid_target"
    code = flow.code(web, resource=WS)
    ok = flow.client.post("/oauth/token", data=data(code, WS), headers=web.basic())
    assert ok.status_code == 200 and aud(ok.get_json()["access_token"]) == WS


def test_rfc8707_repeated_resource_is_invalid_request(configured):
    flow, _app, _web, bot = configured
    response = flow.client.post(
        "/oauth/token",
        data=f"grant_type=client_credentials&resource={DEFAULT}&resource={WS}",
        content_type="application/x-www-form-urlencoded",
        headers=bot.basic(),
    )
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_request"
    assert "resource" in response.get_json()["error_description"]


def test_rfc8707_a_resource_server_refuses_a_token_meant_for_another(configured):
    """The point of it all: the WebSocket API's middleware refuses a token for the REST API."""
    flow, _app, _web, bot = configured

    def fetch(url, headers):
        response = flow.client.get(urlsplit(url).path, headers=dict(headers))
        return HttpResponse(response.status_code, response.data)

    ws_api = TokenVerifier(ISSUER, WS, jwks_uri=f"{ISSUER}/jwks.json", http=fetch)
    for_ws = client_credentials(flow, bot, resource=WS).get_json()["access_token"]
    for_rest = client_credentials(flow, bot).get_json()["access_token"]
    assert ws_api.verify(for_ws).client_id == bot.client_id
    with pytest.raises(InvalidToken, match="audience"):
        ws_api.verify(for_rest)


def test_rfc8707_device_authorization_refuses_a_resource_it_cannot_honour(make_app):
    """Device codes carry the default audience: a resource naming another is refused there,
    rather than ignored and answered later with a token for the wrong API."""
    app = make_app(ALLOWED_RESOURCES=WS)
    device = register_app(
        app, apps.ClientSpec(name="Terminal", app_type="device", scopes=["orders:read"])
    )
    client = app.test_client()

    def start(**extra):
        data = {"client_id": device.client_id, "scope": "orders:read", **extra}
        return client.post("/oauth/device_authorization", data=data)

    assert start(resource=WS).get_json()["error"] == "invalid_target"
    assert start(resource="https://evil.example/").get_json()["error"] == "invalid_target"
    assert start(resource=DEFAULT).status_code == 200
    assert start().status_code == 200
