"""requests-oauthlib (on oauthlib) against a live Tessera; its access tokens checked with PyJWT.

requests-oauthlib refuses http token URLs unless OAUTHLIB_INSECURE_TRANSPORT is set, even on
loopback, so every test here sets it for the client side only.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from oauthlib.oauth2 import AccessDeniedError, BackendApplicationClient, InvalidGrantError
from requests.auth import HTTPBasicAuth
from requests_oauthlib import OAuth2Session

from tests.interop.conftest import USERNAME, Browser, LiveServer, RegisteredApp, new_nonce

ACCESS_TOKEN_ALGS = ["ES256", "RS256", "EdDSA"]


@pytest.fixture(autouse=True)
def insecure_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")


@pytest.fixture(params=["web_app", "spa_app"], ids=["web", "spa"])
def registered(request: pytest.FixtureRequest) -> RegisteredApp:
    return request.getfixturevalue(request.param)


def discovery(server: LiveServer) -> dict:
    response = OAuth2Session().get(server.url("/.well-known/openid-configuration"), timeout=10)
    response.raise_for_status()
    return response.json()


def authorization_response(callback: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(callback).query).items()}


def decode_access_token(server: LiveServer, token: str, audience: str) -> dict:
    """What a resource server would do with PyJWT alone: JWKS, alg allow-list, typ, iss, aud."""
    jwks_uri = discovery(server)["jwks_uri"]
    signing_key = jwt.PyJWKClient(jwks_uri, cache_keys=False).get_signing_key_from_jwt(token)
    assert jwt.get_unverified_header(token)["typ"] == "at+jwt"  # RFC 9068 2.1
    return jwt.decode(
        token,
        signing_key.key,
        algorithms=ACCESS_TOKEN_ALGS,
        audience=audience,
        issuer=server.issuer,
        options={"require": ["exp", "iat", "iss", "aud", "sub", "jti", "client_id"]},
    )


def code_flow(
    server: LiveServer, app: RegisteredApp, browser: Browser, scope: list[str]
) -> tuple[OAuth2Session, dict, str]:
    """Authorization code + PKCE S256 with requests-oauthlib; (session, token, callback URL)."""
    metadata = discovery(server)
    oauth = OAuth2Session(app.client_id, redirect_uri=app.redirect_uri, scope=scope, pkce="S256")
    url, _state = oauth.authorization_url(metadata["authorization_endpoint"], nonce=new_nonce())
    callback = browser.authorize(url, app.redirect_uri)
    if app.client_secret:
        token = oauth.fetch_token(
            metadata["token_endpoint"],
            authorization_response=callback,
            client_secret=app.client_secret,  # HTTP Basic, client_secret_basic
            timeout=10,
        )
    else:
        token = oauth.fetch_token(
            metadata["token_endpoint"],
            authorization_response=callback,
            include_client_id=True,  # a public client names itself in the body
            timeout=10,
        )
    return oauth, token, callback


def refresh(server: LiveServer, oauth: OAuth2Session, app: RegisteredApp, refresh_token: str):
    token_endpoint = discovery(server)["token_endpoint"]
    if app.client_secret:
        auth = HTTPBasicAuth(app.client_id, app.client_secret)
        return oauth.refresh_token(token_endpoint, refresh_token=refresh_token, auth=auth)
    return oauth.refresh_token(
        token_endpoint, refresh_token=refresh_token, client_id=app.client_id, timeout=10
    )


def test_rfc7636_code_flow_refresh_and_userinfo_with_requests_oauthlib(
    live_server: LiveServer, registered: RegisteredApp, browser: Browser
):
    scope = ["openid", "profile", "offline_access", "orders:read"]
    oauth, token, callback = code_flow(live_server, registered, browser, scope)

    # RFC 9207 2.4: the issuer in the authorization response is the discovered one.
    assert authorization_response(callback)["iss"] == discovery(live_server)["issuer"]
    assert set(token["scope"]) == set(scope)  # oauthlib splits the scope string
    userinfo_endpoint = discovery(live_server)["userinfo_endpoint"]
    info = oauth.get(userinfo_endpoint, timeout=10)
    assert info.status_code == 200, info.text
    assert info.json()["preferred_username"] == USERNAME

    claims = decode_access_token(live_server, token["access_token"], live_server.issuer + "/api")
    assert claims["sub"] == info.json()["sub"]
    assert claims["client_id"] == registered.client_id
    assert set(claims["scope"].split()) == set(scope)
    assert claims["gid"] and claims["tier"] == {"name": "default", "rps": 3, "burst": 10}

    renewed = refresh(live_server, oauth, registered, token["refresh_token"])
    assert renewed["refresh_token"] != token["refresh_token"]
    assert oauth.get(userinfo_endpoint, timeout=10).json()["sub"] == claims["sub"]
    renewed_claims = decode_access_token(
        live_server, renewed["access_token"], live_server.issuer + "/api"
    )
    assert renewed_claims["gid"] == claims["gid"] and renewed_claims["jti"] != claims["jti"]

    with pytest.raises(InvalidGrantError):  # RFC 9700 4.14.2: the rotated token is spent
        refresh(live_server, oauth, registered, token["refresh_token"])


def test_rfc6749_4_1_2_1_rfc9207_denied_consent_reaches_oauthlib_as_access_denied(
    live_server: LiveServer, web_app: RegisteredApp, browser: Browser
):
    metadata = discovery(live_server)
    oauth = OAuth2Session(
        web_app.client_id, redirect_uri=web_app.redirect_uri, scope=["orders:read"], pkce="S256"
    )
    url, state = oauth.authorization_url(metadata["authorization_endpoint"])
    callback = browser.authorize(url, web_app.redirect_uri, decision="deny")

    response = authorization_response(callback)
    assert response["state"] == state
    assert response["iss"] == metadata["issuer"]  # RFC 9207: errors carry iss too
    with pytest.raises(AccessDeniedError):
        oauth.fetch_token(
            metadata["token_endpoint"],
            authorization_response=callback,
            client_secret=web_app.client_secret,
            timeout=10,
        )


def test_rfc6749_4_4_client_credentials_with_oauthlib_backend_application_client(
    live_server: LiveServer, service_app: RegisteredApp
):
    oauth = OAuth2Session(client=BackendApplicationClient(client_id=service_app.client_id))
    token = oauth.fetch_token(
        discovery(live_server)["token_endpoint"],
        client_id=service_app.client_id,
        client_secret=service_app.client_secret,
        timeout=10,
    )

    assert token["token_type"] == "Bearer"
    assert "refresh_token" not in token  # RFC 6749 4.4.3: SHOULD NOT be included
    assert set(token["scope"]) == {"market:read", "ws:connect"}
    claims = decode_access_token(live_server, token["access_token"], live_server.issuer + "/api")
    assert claims["sub"] == claims["client_id"] == service_app.client_id
    assert claims["iss"] == live_server.issuer
    assert set(claims["scope"].split()) == {"market:read", "ws:connect"}
    assert claims["tier"] == {"name": "verified", "rps": 10, "burst": 30}
    assert "gid" not in claims  # no user, no grant
    assert claims["exp"] - claims["iat"] == token["expires_in"]


def test_rfc6749_4_4_2_client_credentials_scope_narrowed_by_the_client(
    live_server: LiveServer, service_app: RegisteredApp
):
    oauth = OAuth2Session(
        client=BackendApplicationClient(client_id=service_app.client_id, scope=["market:read"])
    )
    token = oauth.fetch_token(
        discovery(live_server)["token_endpoint"],
        client_id=service_app.client_id,
        client_secret=service_app.client_secret,
        timeout=10,
    )

    assert token["scope"] == ["market:read"]
    claims = decode_access_token(live_server, token["access_token"], live_server.issuer + "/api")
    assert claims["scope"] == "market:read"
