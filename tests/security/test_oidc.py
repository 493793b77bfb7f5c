"""OpenID Connect: ID token, userinfo, discovery, JWKS, RP-initiated logout."""

from __future__ import annotations

import jwt

from tests.security.conftest import query_of

ISSUER = "http://localhost"


def id_token_claims(app, token: str) -> dict:
    with app.app_context():
        key = app.extensions["tessera"].keystore.public_key_for(
            jwt.get_unverified_header(token)["kid"]
        )
    return jwt.decode(
        token, key, algorithms=["RS256"], issuer=ISSUER, options={"verify_aud": False}
    )


def test_oidc_core_3_1_3_7_id_token_claims(app, flow, web_app):
    tokens = flow.tokens(web_app, scope="openid profile email")
    header = jwt.get_unverified_header(tokens["id_token"])
    assert header["alg"] == "RS256" and header["kid"]
    claims = id_token_claims(app, tokens["id_token"])
    assert claims["aud"] == web_app.client_id and claims["azp"] == web_app.client_id
    assert claims["nonce"] == "n-456" and claims["amr"] == ["pwd"]
    assert isinstance(claims["auth_time"], int) and claims["exp"] > claims["iat"]
    assert claims["email"] == "trader@example.com" and claims["preferred_username"] == "trader"
    from idp.services.tokens import half_hash

    assert claims["at_hash"] == half_hash(tokens["access_token"], "RS256")


def test_oidc_no_id_token_without_openid_scope(flow, web_app):
    tokens = flow.tokens(web_app, scope="orders:read")
    assert "id_token" not in tokens


def test_oidc_core_5_3_userinfo_releases_claims_by_scope(flow, web_app):
    tokens = flow.tokens(web_app, scope="openid profile")
    response = flow.client.get(
        "/oauth/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    body = response.get_json()
    assert response.status_code == 200 and body["preferred_username"] == "trader"
    assert "email" not in body
    posted = flow.client.post(
        "/oauth/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert posted.get_json() == body


def test_userinfo_errors_follow_rfc6750(flow, web_app):
    missing = flow.client.get("/oauth/userinfo")
    assert missing.status_code == 401 and missing.headers["WWW-Authenticate"].startswith("Bearer")
    bad = flow.client.get("/oauth/userinfo", headers={"Authorization": "Bearer not-a-token"})
    assert bad.status_code == 401 and 'error="invalid_token"' in bad.headers["WWW-Authenticate"]
    no_openid = flow.tokens(web_app, scope="orders:read")["access_token"]
    forbidden = flow.client.get("/oauth/userinfo", headers={"Authorization": f"Bearer {no_openid}"})
    assert (
        forbidden.status_code == 403 and 'scope="openid"' in forbidden.headers["WWW-Authenticate"]
    )


def test_rfc8414_discovery_lists_only_what_works(client):
    doc = client.get("/.well-known/openid-configuration").get_json()
    assert doc == client.get("/.well-known/oauth-authorization-server").get_json()
    assert doc["issuer"] == ISSUER
    assert doc["response_types_supported"] == ["code"]
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert (
        "password" not in doc["grant_types_supported"]
        and "implicit" not in doc["grant_types_supported"]
    )
    assert doc["authorization_response_iss_parameter_supported"] is True
    for key in ("token_endpoint", "jwks_uri", "userinfo_endpoint", "revocation_endpoint", "introspection_endpoint",
                "end_session_endpoint", "revocation_feed_endpoint"):  # fmt: skip
        path = doc[key].removeprefix(ISSUER)
        assert client.get(path).status_code != 404, key


def test_jwks_has_public_keys_only(client):
    keys = client.get("/jwks.json").get_json()["keys"]
    assert {k["alg"] for k in keys} >= {"RS256", "ES256"}
    for key in keys:
        assert (
            not {"d", "p", "q", "dp", "dq", "qi"} & set(key) and key["kid"] and key["use"] == "sig"
        )


def test_rp_initiated_logout_with_registered_uri(app, flow, web_app):
    from idp.extensions import db
    from idp.storage.unit_of_work import SqlAlchemyUnitOfWork

    with app.app_context():
        c = SqlAlchemyUnitOfWork().clients.by_client_id(web_app.client_id)
        c.post_logout_redirect_uris = ["https://app.example.com/bye"]
        db.session.commit()
    id_token = flow.tokens(web_app)["id_token"]
    page = flow.client.get("/oauth/logout", query_string={"id_token_hint": id_token,
                           "post_logout_redirect_uri": "https://app.example.com/bye", "state": "s1"})  # fmt: skip
    assert page.status_code == 200 and "Sign out of Tessera?" in page.get_data(as_text=True)
    import re

    token = re.search(
        r'name="csrf_token" type="hidden" value="([^"]+)"', page.get_data(as_text=True)
    ).group(1)
    done = flow.client.post("/oauth/logout", data={"csrf_token": token, "confirm": "yes", "id_token_hint": id_token,
                            "post_logout_redirect_uri": "https://app.example.com/bye", "state": "s1"})  # fmt: skip
    assert (
        done.status_code == 303
        and done.headers["Location"] == "https://app.example.com/bye?state=s1"
    )
    assert flow.client.get("/account").status_code == 303


def test_rp_logout_refuses_unregistered_uri(flow, web_app):
    id_token = flow.tokens(web_app)["id_token"]
    page = flow.client.get(
        "/oauth/logout",
        query_string={
            "id_token_hint": id_token,
            "post_logout_redirect_uri": "https://evil.example/",
        },
    )
    assert page.status_code == 400 and "Location" not in page.headers


def test_rp_logout_refuses_forged_hint(flow):
    page = flow.client.get(
        "/oauth/logout", query_string={"id_token_hint": "eyJhbGciOiJub25lIn0.e30."}
    )
    assert page.status_code == 400


def test_access_denied_keeps_state(flow, web_app):
    response = flow.decide(flow.authorize(web_app), decision="deny")
    assert query_of(response.headers["Location"])["state"] == "st-123"
