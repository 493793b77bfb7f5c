"""Authlib's OAuth 2.0 / OpenID Connect client against a live Tessera.

The relying party is authlib.integrations.requests_client.OAuth2Session configured from the
discovery document, with Authlib's own OpenID checks (sync_openid.OpenIDMixin, the code its
Flask, Django and Starlette clients run) validating the ID token against the published JWKS.
Each flow runs for a confidential web app (client_secret_basic, then client_secret_post) and
for a public SPA (token_endpoint_auth_method=none).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from authlib.common.security import generate_token
from authlib.integrations.base_client import OAuthError
from authlib.integrations.base_client.sync_openid import OpenIDMixin
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc6749.parameters import parse_authorization_code_response
from authlib.oidc.core import UserInfo
from authlib.oidc.discovery import OpenIDProviderMetadata, get_well_known_url
from joserfc.errors import InvalidClaimError

from tests.interop.conftest import EMAIL, USERNAME, Browser, LiveServer, RegisteredApp, new_nonce

# (app fixture, token_endpoint_auth_method): both confidential methods, and a public client.
CLIENT_AUTH = [
    ("web_app", "client_secret_basic"),
    ("web_app", "client_secret_post"),
    ("spa_app", "none"),
]


class AuthlibRelyingParty(OpenIDMixin):
    """An app built the way Authlib's docs build one: metadata from discovery, PKCE S256."""

    def __init__(
        self,
        server: LiveServer,
        app: RegisteredApp,
        scope: str,
        auth_method: str | None = None,
        **session_options: Any,
    ) -> None:
        self.client_id = app.client_id
        self.redirect_uri = app.redirect_uri
        self.server_metadata_url = get_well_known_url(server.issuer, external=True)
        self.server_metadata: dict[str, Any] = {}
        metadata = self.load_server_metadata()
        if auth_method is None:
            auth_method = "client_secret_basic" if app.client_secret else "none"
        # Authlib's own registry clients pass the whole discovery document as client metadata.
        self.session = OAuth2Session(
            client_id=app.client_id,
            client_secret=app.client_secret,
            token_endpoint_auth_method=auth_method,
            revocation_endpoint_auth_method=auth_method,
            scope=scope,
            redirect_uri=app.redirect_uri,
            code_challenge_method="S256",
            **session_options,
            **{k: v for k, v in metadata.items() if k != "jwks"},
        )

    def _get_session(self) -> OAuth2Session:
        return OAuth2Session()

    def load_server_metadata(self) -> dict[str, Any]:
        if not self.server_metadata:
            with self._get_session() as session:
                response = session.get(self.server_metadata_url, withhold_token=True, timeout=10)
                response.raise_for_status()
                self.server_metadata.update(response.json())
        return self.server_metadata

    def authorize(self, browser: Browser, **params: str) -> tuple[dict, str, dict[str, str]]:
        """The whole code flow: (token response, nonce, authorization response parameters)."""
        metadata = self.load_server_metadata()
        nonce, verifier = new_nonce(), generate_token(48)
        url, state = self.session.create_authorization_url(
            metadata["authorization_endpoint"], code_verifier=verifier, nonce=nonce, **params
        )
        callback = browser.authorize(url, self.redirect_uri)
        response = parse_authorization_code_response(callback, state=state)
        token = self.session.fetch_token(
            metadata["token_endpoint"],
            authorization_response=callback,
            state=state,
            code_verifier=verifier,
        )
        return token, nonce, response

    def userinfo(self, **kwargs: Any) -> UserInfo:
        response = self.session.get(self.load_server_metadata()["userinfo_endpoint"], **kwargs)
        response.raise_for_status()
        return UserInfo(response.json())

    def refresh(self, refresh_token: str) -> dict:
        return self.session.refresh_token(
            self.load_server_metadata()["token_endpoint"], refresh_token=refresh_token
        )

    def revoke(self, token: str, hint: str | None) -> Any:
        return self.session.revoke_token(
            self.load_server_metadata()["revocation_endpoint"], token=token, token_type_hint=hint
        )


@pytest.fixture(params=CLIENT_AUTH, ids=[method for _, method in CLIENT_AUTH])
def registered(request: pytest.FixtureRequest) -> tuple[RegisteredApp, str]:
    app_fixture, auth_method = request.param
    return request.getfixturevalue(app_fixture), auth_method


def test_oidc_discovery_4_rfc8414_3_metadata_validated_by_authlib(
    live_server: LiveServer, spa_app: RegisteredApp
):
    rp = AuthlibRelyingParty(live_server, spa_app, "openid")
    metadata = OpenIDProviderMetadata(rp.load_server_metadata())
    metadata.validate()  # Authlib's RFC 8414 + OpenID Discovery 1.0 checks
    assert metadata["issuer"] == live_server.issuer
    assert metadata["authorization_response_iss_parameter_supported"] is True
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert "none" in metadata["token_endpoint_auth_methods_supported"]


def test_rfc7636_rfc9207_oidc_code_flow_validated_by_authlib(
    live_server: LiveServer, registered: tuple[RegisteredApp, str], browser: Browser
):
    app, auth_method = registered
    rp = AuthlibRelyingParty(
        live_server, app, "openid profile offline_access orders:read", auth_method
    )
    token, nonce, response = rp.authorize(browser)

    assert browser.pages == ["login", "consent"]
    # RFC 9207 2.4: the client compares iss with the issuer it discovered.
    assert response["iss"] == rp.load_server_metadata()["issuer"] == live_server.issuer
    assert token["token_type"] == "Bearer"
    assert set(token["scope"].split()) == {"openid", "profile", "offline_access", "orders:read"}
    assert token["refresh_token"] and token["expires_at"] > 0
    # Signature against the JWKS, iss, aud, exp, nonce and at_hash, by Authlib's CodeIDToken.
    claims = rp.parse_id_token(token, nonce=nonce, leeway=0)
    assert claims["aud"] == app.client_id
    assert claims["preferred_username"] == USERNAME
    assert claims["at_hash"] and claims["auth_time"] <= claims["iat"]
    assert "email" not in claims


def test_oidc_core_3_1_3_7_authlib_rejects_the_id_token_for_another_nonce(
    live_server: LiveServer, web_app: RegisteredApp, browser: Browser
):
    rp = AuthlibRelyingParty(live_server, web_app, "openid")
    token, nonce, _ = rp.authorize(browser)

    assert rp.parse_id_token(token, nonce=nonce)["nonce"] == nonce
    with pytest.raises(InvalidClaimError, match="nonce"):
        rp.parse_id_token(token, nonce=new_nonce())
    with pytest.raises(InvalidClaimError, match="at_hash"):
        rp.parse_id_token({**token, "access_token": token["access_token"] + "x"}, nonce=nonce)


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        ("openid", {"sub"}),
        ("openid profile", {"sub", "name", "preferred_username", "updated_at"}),
        ("openid email", {"sub", "email", "email_verified"}),
    ],
)
def test_oidc_core_5_4_userinfo_claims_per_scope_through_authlib(
    live_server: LiveServer, web_app: RegisteredApp, browser: Browser, scope: str, expected: set
):
    rp = AuthlibRelyingParty(live_server, web_app, scope)
    token, nonce, _ = rp.authorize(browser)

    info = rp.userinfo(timeout=10)
    # updated_at only when the account has one; nothing beyond what the scopes release.
    assert expected - {"updated_at"} <= set(info) <= expected
    assert info["sub"] == rp.parse_id_token(token, nonce=nonce)["sub"]
    if "email" in expected:
        assert info["email"] == EMAIL
    if "preferred_username" in expected:
        assert info["preferred_username"] == USERNAME


def test_rfc9700_4_14_2_refresh_rotation_through_authlib(
    live_server: LiveServer, registered: tuple[RegisteredApp, str], browser: Browser
):
    app, auth_method = registered
    rp = AuthlibRelyingParty(live_server, app, "openid offline_access orders:read", auth_method)
    first, _, _ = rp.authorize(browser)

    second = rp.refresh(first["refresh_token"])
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert set(second["scope"].split()) == {"openid", "offline_access", "orders:read"}
    assert rp.userinfo(timeout=10)["sub"]  # the session now carries the new access token

    with pytest.raises(OAuthError) as replay:
        rp.refresh(first["refresh_token"])
    assert replay.value.error == "invalid_grant"
    # The replay revoked the family: the token rotated in before it is dead too.
    with pytest.raises(OAuthError) as family:
        rp.refresh(second["refresh_token"])
    assert family.value.error == "invalid_grant"


def test_rfc7009_2_revocation_through_authlib_revoke_token(
    live_server: LiveServer, registered: tuple[RegisteredApp, str], browser: Browser
):
    app, auth_method = registered
    rp = AuthlibRelyingParty(live_server, app, "openid offline_access", auth_method)
    token, _, _ = rp.authorize(browser)
    assert rp.userinfo(timeout=10)["sub"]

    revoked = rp.revoke(token["access_token"], "access_token")
    assert revoked.status_code == 200, revoked.text
    denied = rp.session.get(rp.load_server_metadata()["userinfo_endpoint"], timeout=10)
    assert denied.status_code == 401
    assert 'error="invalid_token"' in denied.headers["WWW-Authenticate"]

    revoked = rp.revoke(token["refresh_token"], "refresh_token")
    assert revoked.status_code == 200, revoked.text
    with pytest.raises(OAuthError) as refused:
        rp.refresh(token["refresh_token"])
    assert refused.value.error == "invalid_grant"

    # RFC 7009 2.2: an unknown or already revoked token is not an error.
    again = rp.revoke(token["refresh_token"], "refresh_token")
    assert again.status_code == 200, again.text


def test_rfc7662_2_introspection_through_authlib_sees_the_revocation(
    live_server: LiveServer, web_app: RegisteredApp, browser: Browser
):
    rp = AuthlibRelyingParty(live_server, web_app, "openid offline_access orders:read")
    token, _, _ = rp.authorize(browser)
    endpoint = rp.load_server_metadata()["introspection_endpoint"]

    active = rp.session.introspect_token(endpoint, token=token["access_token"])
    assert active.status_code == 200, active.text
    body = active.json()
    assert body["active"] is True
    assert body["client_id"] == web_app.client_id and body["iss"] == live_server.issuer
    assert set(body["scope"].split()) == {"openid", "offline_access", "orders:read"}

    assert rp.revoke(token["access_token"], "access_token").status_code == 200
    inactive = rp.session.introspect_token(endpoint, token=token["access_token"])
    assert inactive.status_code == 200, inactive.text
    assert inactive.json() == {"active": False}  # RFC 7662 2.2: nothing more about it


def test_rfc6749_6_authlib_refreshes_an_expiring_token_by_itself(
    live_server: LiveServer, registered: tuple[RegisteredApp, str], browser: Browser
):
    app, auth_method = registered
    updates: list[tuple[dict, str | None]] = []
    # A leeway longer than the token's life: Authlib treats the token as expiring at once,
    # the clock-free way to make it refresh before the next request.
    rp = AuthlibRelyingParty(
        live_server,
        app,
        "openid offline_access orders:read",
        auth_method,
        leeway=3600,
        update_token=lambda token, refresh_token=None, access_token=None: updates.append(
            (dict(token), refresh_token)
        ),
    )
    first, _, _ = rp.authorize(browser)

    info = rp.userinfo(timeout=10)  # OAuth2Auth refreshes through the discovered token endpoint

    assert info["sub"]
    assert len(updates) == 1
    renewed, old_refresh_token = updates[0]
    assert old_refresh_token == first["refresh_token"]
    assert renewed["refresh_token"] != first["refresh_token"]
    assert rp.session.token["access_token"] == renewed["access_token"] != first["access_token"]


def test_oidc_core_3_1_2_1_prompt_none_through_authlib(
    live_server: LiveServer, web_app: RegisteredApp, browser: Browser
):
    rp = AuthlibRelyingParty(live_server, web_app, "openid orders:read")
    endpoint = rp.load_server_metadata()["authorization_endpoint"]

    url, state = rp.session.create_authorization_url(
        endpoint, code_verifier=generate_token(48), prompt="none"
    )
    refused = parse_qs(urlsplit(browser.authorize(url, web_app.redirect_uri)).query)
    assert refused["error"] == ["login_required"] and refused["state"] == [state]
    assert refused["iss"] == [live_server.issuer]  # RFC 9207: errors carry iss as well
    assert browser.pages == []

    rp.authorize(browser)  # sign in and consent once
    token, nonce, response = rp.authorize(browser, prompt="none")

    assert browser.pages == ["login", "consent"]  # nothing shown the second time
    assert response["iss"] == live_server.issuer
    assert rp.parse_id_token(token, nonce=nonce)["aud"] == web_app.client_id


def test_rfc7009_2_1_another_app_cannot_revoke_the_tokens_through_authlib(
    live_server: LiveServer, web_app: RegisteredApp, spa_app: RegisteredApp, browser: Browser
):
    owner = AuthlibRelyingParty(live_server, web_app, "openid offline_access")
    token, _, _ = owner.authorize(browser)
    stranger = AuthlibRelyingParty(live_server, spa_app, "openid")

    for value, hint in ((token["access_token"], "access_token"), (token["refresh_token"], None)):
        # RFC 7009 2.2: the answer does not reveal whose token it was; nothing is revoked.
        assert stranger.revoke(value, hint).status_code == 200

    assert owner.userinfo(timeout=10)["sub"]
    assert owner.refresh(token["refresh_token"])["refresh_token"] != token["refresh_token"]
