"""Errors as the client libraries see them: the RFC 6749 5.2 error code each library raises.

The libraries keep only the error code; a compliance hook (both libraries have one) records the
raw HTTP response so the status and headers the library received can be checked too.
"""

from __future__ import annotations

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session as AuthlibSession
from oauthlib.oauth2 import BackendApplicationClient, InvalidClientError, InvalidGrantError
from requests_oauthlib import OAuth2Session as OAuthlibSession

from tests.interop.conftest import Browser, LiveServer, RegisteredApp, new_nonce


class Recorder:
    """A compliance hook that keeps the token endpoint's responses as the library got them."""

    def __init__(self) -> None:
        self.responses: list[requests.Response] = []

    def __call__(self, response: requests.Response) -> requests.Response:
        self.responses.append(response)
        return response


def authlib_session(app: RegisteredApp, recorder: Recorder, **kwargs) -> AuthlibSession:
    session = AuthlibSession(
        client_id=app.client_id,
        client_secret=kwargs.pop("client_secret", app.client_secret),
        redirect_uri=app.redirect_uri or None,
        code_challenge_method="S256",
        **kwargs,
    )
    session.register_compliance_hook("access_token_response", recorder)
    return session


def authorize(
    server: LiveServer, session: AuthlibSession, app: RegisteredApp, browser: Browser
) -> tuple[str, str, str]:
    """(callback URL, state, code_verifier) after the user allowed."""
    verifier = generate_token(48)
    url, state = session.create_authorization_url(
        server.url("/oauth/authorize"),
        code_verifier=verifier,
        scope="openid offline_access orders:read",
        nonce=new_nonce(),
    )
    return browser.authorize(url, app.redirect_uri), state, verifier


def assert_invalid_client_basic(response: requests.Response) -> None:
    """RFC 6749 5.2: 401 with WWW-Authenticate naming the scheme the client used."""
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert response.headers["Cache-Control"] == "no-store"
    assert response.json()["error"] == "invalid_client"


def test_rfc6749_5_2_wrong_secret_is_invalid_client_401_basic_in_authlib(
    live_server: LiveServer, service_app: RegisteredApp
):
    recorder = Recorder()
    session = authlib_session(service_app, recorder, client_secret="not-the-secret")

    with pytest.raises(OAuthError) as raised:
        session.fetch_token(live_server.url("/oauth/token"), grant_type="client_credentials")

    assert raised.value.error == "invalid_client"
    assert_invalid_client_basic(recorder.responses[-1])


def test_rfc6749_5_2_wrong_secret_at_code_exchange_is_invalid_client_in_authlib(
    live_server: LiveServer, web_app: RegisteredApp, browser: Browser
):
    recorder = Recorder()
    callback, state, verifier = authorize(
        live_server, authlib_session(web_app, recorder), web_app, browser
    )
    impostor = authlib_session(web_app, recorder, client_secret=web_app.client_secret + "x")

    with pytest.raises(OAuthError) as raised:
        impostor.fetch_token(
            live_server.url("/oauth/token"),
            authorization_response=callback,
            state=state,
            code_verifier=verifier,
        )

    assert raised.value.error == "invalid_client"
    assert_invalid_client_basic(recorder.responses[-1])
    # The client is authenticated before the code is looked at: a party holding a stolen code
    # but not the secret cannot burn it for the real app.
    token = authlib_session(web_app, recorder).fetch_token(
        live_server.url("/oauth/token"),
        authorization_response=callback,
        state=state,
        code_verifier=verifier,
    )
    assert token["access_token"] and token["refresh_token"]


def test_rfc6749_5_2_wrong_secret_is_invalid_client_401_basic_in_requests_oauthlib(
    live_server: LiveServer, service_app: RegisteredApp, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    recorder = Recorder()
    oauth = OAuthlibSession(client=BackendApplicationClient(client_id=service_app.client_id))
    oauth.register_compliance_hook("access_token_response", recorder)

    with pytest.raises(InvalidClientError) as raised:
        oauth.fetch_token(
            live_server.url("/oauth/token"),
            client_id=service_app.client_id,
            client_secret="not-the-secret",
            timeout=10,
        )

    assert raised.value.error == "invalid_client"
    assert_invalid_client_basic(recorder.responses[-1])


def test_checklist_12_code_reuse_is_invalid_grant_and_revokes_its_tokens_in_authlib(
    live_server: LiveServer, web_app: RegisteredApp, browser: Browser
):
    recorder = Recorder()
    session = authlib_session(web_app, recorder)
    callback, state, verifier = authorize(live_server, session, web_app, browser)
    exchange = {"authorization_response": callback, "state": state, "code_verifier": verifier}
    first = session.fetch_token(live_server.url("/oauth/token"), **exchange)

    with pytest.raises(OAuthError) as raised:
        session.fetch_token(live_server.url("/oauth/token"), **exchange)

    assert raised.value.error == "invalid_grant"
    assert recorder.responses[-1].status_code == 400
    # RFC 9700 4.2.4 / ASVS 10.4.2: the tokens issued from the replayed code are revoked.
    userinfo = requests.get(
        live_server.url("/oauth/userinfo"),
        headers={"Authorization": f"Bearer {first['access_token']}"},
        timeout=10,
    )
    assert userinfo.status_code == 401
    with pytest.raises(OAuthError) as refresh:
        session.refresh_token(live_server.url("/oauth/token"), refresh_token=first["refresh_token"])
    assert refresh.value.error == "invalid_grant"


def test_checklist_12_code_reuse_is_invalid_grant_in_requests_oauthlib(
    live_server: LiveServer, web_app: RegisteredApp, browser: Browser, monkeypatch
):
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    oauth = OAuthlibSession(
        web_app.client_id,
        redirect_uri=web_app.redirect_uri,
        scope=["openid", "orders:read"],
        pkce="S256",
    )
    url, _ = oauth.authorization_url(live_server.url("/oauth/authorize"))
    callback = browser.authorize(url, web_app.redirect_uri)
    exchange = {"authorization_response": callback, "client_secret": web_app.client_secret}
    assert oauth.fetch_token(live_server.url("/oauth/token"), **exchange, timeout=10)

    with pytest.raises(InvalidGrantError) as raised:
        oauth.fetch_token(live_server.url("/oauth/token"), **exchange, timeout=10)
    assert raised.value.error == "invalid_grant"


@pytest.mark.parametrize("app_kind", ["web_app", "spa_app"])
def test_rfc7636_4_6_verifier_mismatch_is_invalid_grant_in_authlib(
    live_server: LiveServer, browser: Browser, request: pytest.FixtureRequest, app_kind: str
):
    app: RegisteredApp = request.getfixturevalue(app_kind)
    recorder = Recorder()
    session = authlib_session(app, recorder)
    callback, state, _verifier = authorize(live_server, session, app, browser)

    with pytest.raises(OAuthError) as raised:
        session.fetch_token(
            live_server.url("/oauth/token"),
            authorization_response=callback,
            state=state,
            code_verifier=generate_token(48),
        )

    assert raised.value.error == "invalid_grant"
    assert recorder.responses[-1].status_code == 400
    assert recorder.responses[-1].headers["Cache-Control"] == "no-store"
    assert "access_token" not in recorder.responses[-1].json()
