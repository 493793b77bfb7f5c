"""CORS on the token, revocation, userinfo and JWKS endpoints (docs/guide/cors.md)."""

from __future__ import annotations

import pytest

from tests.security.conftest import SPA_REDIRECT, Flow

SPA_ORIGIN = "http://127.0.0.1"  # the origin of tests.security.conftest.SPA_REDIRECT
EVIL = "https://evil.example"


def code_request(flow: Flow, app, origin: str | None):
    code = flow.code(app)
    headers = {"Origin": origin} if origin else {}
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": app.redirect_uri,
        "code_verifier": flow.verifier,
        "client_id": app.client_id,
    }
    if app.secret:
        return flow.client.post("/oauth/token", data=data, headers={**headers, **app.basic()})
    return flow.client.post("/oauth/token", data=data, headers=headers)


def test_checklist_32_token_endpoint_grants_the_spa_its_own_origin(flow, spa_app):
    assert spa_app.redirect_uri == SPA_REDIRECT
    response = code_request(flow, spa_app, SPA_ORIGIN)
    assert response.status_code == 200, response.get_json()
    assert response.headers["Access-Control-Allow-Origin"] == SPA_ORIGIN
    assert "Origin" in response.headers["Vary"]
    assert "Access-Control-Allow-Credentials" not in response.headers


def test_checklist_32_token_endpoint_refuses_another_origin_before_spending_the_code(flow, spa_app):
    code = flow.code(spa_app)
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": spa_app.redirect_uri,
        "code_verifier": flow.verifier,
        "client_id": spa_app.client_id,
    }
    refused = flow.client.post("/oauth/token", data=data, headers={"Origin": EVIL})
    assert refused.status_code == 403
    assert refused.get_json()["error"] == "invalid_request"
    assert "Access-Control-Allow-Origin" not in refused.headers
    # The code was not used: the SPA's own origin can still exchange it.
    ok = flow.client.post("/oauth/token", data=data, headers={"Origin": SPA_ORIGIN})
    assert ok.status_code == 200


def test_checklist_32_a_web_apps_token_request_from_a_browser_origin_is_refused(flow, web_app):
    response = code_request(flow, web_app, "https://app.example.com")
    assert response.status_code == 403
    assert "Access-Control-Allow-Origin" not in response.headers


def test_checklist_32_server_side_requests_without_origin_are_unchanged(flow, web_app):
    response = code_request(flow, web_app, None)
    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response.headers


def test_checklist_32_same_origin_requests_pass(flow, web_app):
    response = code_request(flow, web_app, "http://localhost")
    assert response.status_code == 200


@pytest.mark.parametrize("path", ["/oauth/token", "/oauth/revoke"])
def test_checklist_32_preflight_is_granted_to_a_registered_spa_origin_only(client, spa_app, path):
    ask = {"Origin": SPA_ORIGIN, "Access-Control-Request-Method": "POST"}
    granted = client.options(path, headers=ask)
    assert granted.status_code == 200
    assert granted.headers["Access-Control-Allow-Origin"] == SPA_ORIGIN
    assert granted.headers["Access-Control-Allow-Methods"] == "POST"
    assert granted.headers["Access-Control-Max-Age"] == "600"
    assert granted.headers["Vary"] == "Origin"
    refused = client.options(path, headers={**ask, "Origin": EVIL})
    assert "Access-Control-Allow-Origin" not in refused.headers
    assert refused.headers["Vary"] == "Origin"


def test_checklist_32_revocation_follows_the_same_rule(flow, spa_app):
    tokens = flow.tokens(spa_app)
    data = {"token": tokens["access_token"], "client_id": spa_app.client_id}
    assert flow.client.post("/oauth/revoke", data=data, headers={"Origin": EVIL}).status_code == 403
    ok = flow.client.post("/oauth/revoke", data=data, headers={"Origin": SPA_ORIGIN})
    assert ok.status_code == 200
    assert ok.headers["Access-Control-Allow-Origin"] == SPA_ORIGIN


def test_checklist_32_userinfo_grants_the_origin_of_the_tokens_client(flow, spa_app, web_app):
    spa_token = flow.tokens(spa_app)["access_token"]
    web_token = flow.tokens(web_app)["access_token"]
    ok = flow.client.get(
        "/oauth/userinfo",
        headers={"Authorization": f"Bearer {spa_token}", "Origin": SPA_ORIGIN},
    )
    assert ok.status_code == 200
    assert ok.headers["Access-Control-Allow-Origin"] == SPA_ORIGIN
    assert "Origin" in ok.headers["Vary"]
    other = flow.client.get(
        "/oauth/userinfo", headers={"Authorization": f"Bearer {spa_token}", "Origin": EVIL}
    )
    assert "Access-Control-Allow-Origin" not in other.headers
    # The SPA's origin cannot read what a token of another app returns.
    web = flow.client.get(
        "/oauth/userinfo",
        headers={"Authorization": f"Bearer {web_token}", "Origin": SPA_ORIGIN},
    )
    assert "Access-Control-Allow-Origin" not in web.headers


def test_checklist_32_userinfo_preflight(client, spa_app):
    ask = {"Origin": SPA_ORIGIN, "Access-Control-Request-Method": "GET",
           "Access-Control-Request-Headers": "authorization"}  # fmt: skip
    granted = client.options("/oauth/userinfo", headers=ask)
    assert granted.status_code == 204
    assert granted.headers["Access-Control-Allow-Origin"] == SPA_ORIGIN
    assert "Authorization" in granted.headers["Access-Control-Allow-Headers"]
    refused = client.options("/oauth/userinfo", headers={**ask, "Origin": EVIL})
    assert "Access-Control-Allow-Origin" not in refused.headers


def test_checklist_32_jwks_and_discovery_are_public_to_every_origin(client):
    for path in ("/jwks.json", "/.well-known/openid-configuration"):
        response = client.get(path, headers={"Origin": EVIL})
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert "Access-Control-Allow-Credentials" not in response.headers


def test_checklist_32_userinfo_bearer_errors_are_readable_by_a_registered_spa_origin_only(
    client, spa_app
):
    bad = {"Authorization": "Bearer not-a-token"}
    ok = client.get("/oauth/userinfo", headers={**bad, "Origin": SPA_ORIGIN})
    assert ok.status_code == 401
    assert ok.headers["Access-Control-Allow-Origin"] == SPA_ORIGIN
    other = client.get("/oauth/userinfo", headers={**bad, "Origin": EVIL})
    assert "Access-Control-Allow-Origin" not in other.headers
