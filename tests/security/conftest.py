"""Fixtures for the protocol and security rules: registered apps and a driver for the code flow."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import pytest

from idp.services import apps
from idp.services.context import Caller
from idp.storage.unit_of_work import SqlAlchemyUnitOfWork

WEB_REDIRECT = "https://app.example.com/callback"
SPA_REDIRECT = "http://127.0.0.1/callback"
NATIVE_REDIRECT = "com.example.trader:/oauth"
CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
PENDING_RE = re.compile(r'name="pending_id" value="([^"]+)"')


@dataclass
class App:
    client_id: str
    secret: str | None
    redirect_uri: str

    def basic(self) -> dict[str, str]:
        raw = f"{self.client_id}:{self.secret}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    return verifier, challenge


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def register_app(app, spec: apps.ClientSpec, owner_id=None) -> App:
    with app.app_context():
        client, secret = apps.create_client(
            SqlAlchemyUnitOfWork(),
            app.extensions["tessera"].catalogue,
            Caller(),
            spec,
            owner_id=owner_id,
            allow_restricted=True,
        )
        return App(client.client_id, secret, spec.redirect_uris[0] if spec.redirect_uris else "")


@pytest.fixture
def web_app(app) -> App:
    return register_app(
        app,
        apps.ClientSpec(
            name="Trade Helper",
            app_type="web",
            redirect_uris=[WEB_REDIRECT, "https://app.example.com/other"],
            scopes=["openid", "profile", "email", "offline_access", "orders:read", "orders:write"],
        ),
    )


@pytest.fixture
def spa_app(app) -> App:
    return register_app(
        app,
        apps.ClientSpec(
            name="Price Overlay",
            app_type="spa",
            redirect_uris=[SPA_REDIRECT],
            scopes=["openid", "profile", "orders:read", "offline_access"],
        ),
    )


@pytest.fixture
def service_app(app) -> App:
    return register_app(
        app,
        apps.ClientSpec(name="Price Bot", app_type="service", scopes=["market:read", "ws:connect"]),
    )


class Flow:
    """Drives /oauth/authorize, the consent form and /oauth/token like a browser and a client."""

    def __init__(self, client) -> None:
        self.client = client

    def authorize(self, app: App, **params: str):
        verifier, challenge = pkce_pair()
        self.verifier = verifier
        query = {
            "response_type": "code",
            "client_id": app.client_id,
            "redirect_uri": app.redirect_uri,
            "scope": "openid profile",
            "state": "st-123",
            "nonce": "n-456",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        query.update(params)
        query = {k: v for k, v in query.items() if v is not None}
        return self.client.get("/oauth/authorize", query_string=query)

    def decide(self, consent_page, decision: str = "allow"):
        html = consent_page.get_data(as_text=True)
        return self.client.post(
            "/oauth/authorize",
            data={
                "csrf_token": CSRF_RE.search(html).group(1),
                "pending_id": PENDING_RE.search(html).group(1),
                "decision": decision,
            },
        )

    def code(self, app: App, **params: str) -> str:
        """Authorize, consent if asked, and return the code."""
        response = self.authorize(app, **params)
        if response.status_code == 200:
            response = self.decide(response)
        assert response.status_code == 303, response.get_data(as_text=True)[:500]
        query = query_of(response.headers["Location"])
        assert "code" in query, query
        return query["code"]

    def exchange(
        self, app: App, code: str, *, verifier: str | None = None, redirect_uri: str | None = None
    ):
        data = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri or app.redirect_uri,
            "code_verifier": verifier or self.verifier,
        }
        if app.secret:
            return self.client.post("/oauth/token", data=data, headers=app.basic())
        return self.client.post("/oauth/token", data={**data, "client_id": app.client_id})

    def tokens(self, app: App, **params: str) -> dict:
        response = self.exchange(app, self.code(app, **params))
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    def refresh(self, app: App, refresh_token: str, **extra: str):
        data = {"grant_type": "refresh_token", "refresh_token": refresh_token, **extra}
        if app.secret:
            return self.client.post("/oauth/token", data=data, headers=app.basic())
        return self.client.post("/oauth/token", data={**data, "client_id": app.client_id})


@pytest.fixture
def flow(client, auth, user) -> Flow:
    assert auth.login().status_code == 303
    return Flow(client)


@pytest.fixture
def make_app_client_flow(make_app, user):
    """A separately configured app, signed in, with a registered web app: (flow, app, web_app)."""
    from tests.conftest import AuthActions

    build = make_app

    def factory(**settings):
        app = build(**settings)
        web = _register(app)
        client = app.test_client()
        assert AuthActions(client).login().status_code == 303
        return Flow(client), app, web

    return factory


def _register(app) -> App:
    return register_app(
        app,
        apps.ClientSpec(
            name="Configured",
            app_type="web",
            redirect_uris=[WEB_REDIRECT],
            scopes=["openid", "profile", "offline_access", "orders:read"],
        ),
    )
