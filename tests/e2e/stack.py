"""A real Tessera, two market API processes sharing Redis and the WebSocket server.

Tessera runs in a werkzeug server thread of the test process (so tests can reach its app
context, e.g. to suspend an app, and inject its token clock); the examples run as
subprocesses on loopback ports chosen by the OS and announced on their first line.
"""

from __future__ import annotations

import base64
import hashlib
import os
import queue
import re
import secrets
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from idp.extensions import db
from idp.services import accounts, apps
from idp.services.context import Caller
from idp.services.tokens import TokenMinter
from idp.storage.unit_of_work import SqlAlchemyUnitOfWork
from tests.conftest import PASSWORD
from tests.live_server import start_live_tessera

ROOT = Path(__file__).resolve().parents[2]
CALLBACK = "http://127.0.0.1:9/callback"
CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
PENDING_RE = re.compile(r'name="pending_id" value="([^"]+)"')
STARTUP_SECONDS = 20


class SkewedClock:
    """Tessera's token clock: tests shift it to mint tokens that are (nearly) expired."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@dataclass
class App:
    client_id: str
    secret: str | None
    redirect_uri: str = ""


class Proc:
    """A subprocess whose output is collected, to wait on and to show when a test fails."""

    def __init__(self, name: str, args: list[str], env: dict[str, str]) -> None:
        self.name = name
        self.popen = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.output: list[str] = []
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self.popen.stdout:  # type: ignore[union-attr]
            self.output.append(line)
            self._lines.put(line)

    def wait_line(self, marker: str) -> str:
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            try:
                line = self._lines.get(timeout=0.2)
            except queue.Empty:
                if self.popen.poll() is not None:
                    break
                continue
            if marker in line:
                return line.strip().rsplit(" ", 1)[-1]
        raise AssertionError(f"{self.name} did not start:\n{''.join(self.output)[-3000:]}")

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


@dataclass
class Stack:
    issuer: str
    app: Any
    clock: SkewedClock
    redis_url: str
    namespace: str
    apps: dict[str, App] = field(default_factory=dict)
    apis: list[str] = field(default_factory=list)
    ws: str = ""
    procs: list[Proc] = field(default_factory=list)
    browser: requests.Session = field(default_factory=requests.Session)

    # -- tokens through the real endpoints --------------------------------------------------
    def client_credentials(self, name: str, **data: str) -> str:
        app = self.apps[name]
        response = requests.post(
            f"{self.issuer}/oauth/token",
            data={"grant_type": "client_credentials", **data},
            auth=(app.client_id, app.secret or ""),
            timeout=10,
        )
        assert response.status_code == 200, response.text
        return response.json()["access_token"]

    def sign_in(self) -> None:
        page = self.browser.get(f"{self.issuer}/login", timeout=10)
        token = CSRF_RE.search(page.text).group(1)
        response = self.browser.post(
            f"{self.issuer}/login",
            data={"login": "trader", "password": PASSWORD, "csrf_token": token},
            allow_redirects=False,
            timeout=10,
        )
        assert response.status_code == 303, response.text[:500]

    def user_tokens(self, scope: str = "openid orders:read orders:write ws:connect offline_access"):
        """Authorization code + PKCE S256 as a browser and a web app do it; the token JSON."""
        app = self.apps["trader"]
        verifier = secrets.token_urlsafe(48)
        digest = hashlib.sha256(verifier.encode()).digest()
        challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        response = self.browser.get(
            f"{self.issuer}/oauth/authorize",
            params={
                "response_type": "code",
                "client_id": app.client_id,
                "redirect_uri": app.redirect_uri,
                "scope": scope,
                "state": secrets.token_urlsafe(8),
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            },
            allow_redirects=False,
            timeout=10,
        )
        if response.status_code == 200:  # the consent screen (first time only)
            response = self.browser.post(
                f"{self.issuer}/oauth/authorize",
                data={
                    "csrf_token": CSRF_RE.search(response.text).group(1),
                    "pending_id": PENDING_RE.search(response.text).group(1),
                    "decision": "allow",
                },
                allow_redirects=False,
                timeout=10,
            )
        assert response.status_code == 303, response.text[:500]
        code = parse_qs(urlsplit(response.headers["Location"]).query)["code"][0]
        exchanged = requests.post(
            f"{self.issuer}/oauth/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": app.redirect_uri,
                "code_verifier": verifier,
            },
            auth=(app.client_id, app.secret or ""),
            timeout=10,
        )
        assert exchanged.status_code == 200, exchanged.text
        return exchanged.json()

    def revoke_refresh_token(self, refresh_token: str) -> None:
        app = self.apps["trader"]
        response = requests.post(
            f"{self.issuer}/oauth/revoke",
            data={"token": refresh_token, "token_type_hint": "refresh_token"},
            auth=(app.client_id, app.secret or ""),
            timeout=10,
        )
        assert response.status_code == 200, response.text

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{''.join(p.output)[-2000:]}" for p in self.procs)


def _register(app: Any, spec: apps.ClientSpec) -> App:
    client, secret = apps.create_client(
        SqlAlchemyUnitOfWork(),
        app.extensions["tessera"].catalogue,
        Caller(),
        spec,
        owner_id=None,
        allow_restricted=True,
    )
    return App(client.client_id, secret, spec.redirect_uris[0] if spec.redirect_uris else "")


APP_SPECS = {
    "resource_server": apps.ClientSpec(
        name="Market API", app_type="service", scopes=["market:read", "revocations:read"]
    ),
    # partner tier: the tests' own traffic never trips this app's limit by accident
    "bot": apps.ClientSpec(
        name="Bot", app_type="service", scopes=["market:read", "ws:connect"], tier="partner"
    ),
    "flood": apps.ClientSpec(
        name="Flood", app_type="service", scopes=["market:read", "ws:connect"], tier="verified"
    ),
    "victim": apps.ClientSpec(name="Victim", app_type="service", scopes=["market:read"]),
    "trader": apps.ClientSpec(
        name="Trader",
        app_type="web",
        redirect_uris=[CALLBACK],
        scopes=["openid", "offline_access", "orders:read", "orders:write", "ws:connect"],
        tier="partner",
        access_token_ttl=60,
    ),
}


def start_tessera(tmp: Path, clock: SkewedClock) -> tuple[Any, Any, str]:
    """Tessera on 127.0.0.1:<free port>, issuer = its real URL, on a migrated SQLite file."""

    def use_clock(app: Any) -> None:
        # Same minter, with the injectable clock the tests shift.
        tessera = app.extensions["tessera"]
        minter = TokenMinter.from_settings(
            tessera.settings, tessera.keystore, tessera.catalogue, clock
        )
        tessera.minter = tessera.oauth.minter = minter

    return start_live_tessera(
        f"sqlite:///{tmp / 'tessera.db'}",
        tmp / "instance",
        prepare=use_clock,
        REVOCATION_POLL_INTERVAL=1,
    )


def seed(app: Any) -> dict[str, App]:
    with app.app_context():
        trader = accounts.register(
            SqlAlchemyUnitOfWork(),
            app.extensions["tessera"].hasher,
            Caller(),
            username="trader",
            email="trader@example.com",
            password=PASSWORD,
        )
        trader.email_verified = True  # production refuses consent to unverified accounts
        db.session.commit()
        registered = {name: _register(app, spec) for name, spec in APP_SPECS.items()}
        db.session.remove()
    return registered


def start_examples(stack: Stack) -> None:
    rs = stack.apps["resource_server"]
    env = {
        **os.environ,
        "TESSERA_ISSUER": stack.issuer,
        "API_AUDIENCE": stack.issuer + "/api",
        "API_CLIENT_ID": rs.client_id,
        "API_CLIENT_SECRET": rs.secret or "",
        "REDIS_URL": stack.redis_url,
        "MARKET_NAMESPACE": stack.namespace,
        "PORT": "0",
        "PYTHONUNBUFFERED": "1",
        "WS_ALLOWED_ORIGINS": "http://app.example.test",
    }
    python = sys.executable
    for index in (1, 2):
        stack.procs.append(Proc(f"api{index}", [python, "-m", "examples.market_api"], env))
    stack.procs.append(Proc("ws", [python, "-m", "examples.ws_server"], env))
    stack.apis = [p.wait_line("market-api listening on") for p in stack.procs[:2]]
    stack.ws = stack.procs[2].wait_line("ws-server listening on")
