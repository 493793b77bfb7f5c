"""Real Chromium (Debian's package) driven by Playwright against a live Tessera.

Tessera runs in a werkzeug server thread on a loopback port, its issuer being that URL, on a
SQLite file brought up by the real migrations. A second tiny server on another loopback port
plays the app's redirect URI. Without Chromium the tests skip with the reason (`make
browser-deps` installs it); under CI=true a missing Chromium is a failure, never a skip.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from idp.extensions import db
from idp.services import access_requests, accounts, apps
from idp.services.context import Caller
from idp.storage.unit_of_work import SqlAlchemyUnitOfWork
from tests.conftest import PASSWORD
from tests.live_server import start_live_tessera, stop_live_tessera

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-output" / "screenshots"
DOC_SHOTS = ROOT / "docs" / "screenshots"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str | None:
    found = shutil.which("chromium") or "/usr/bin/chromium"
    return found if os.access(found, os.X_OK) else None


@dataclass
class LiveTessera:
    issuer: str
    app: Any

    def url(self, path: str) -> str:
        return self.issuer + path

    def user(self, username: str, *, admin: bool = False) -> int:
        with self.app.app_context():
            created = accounts.register(
                SqlAlchemyUnitOfWork(), self.app.extensions["tessera"].hasher, Caller(),
                username=username, email=f"{username}@example.com", password=PASSWORD,
            )  # fmt: skip
            created.is_admin = admin
            db.session.commit()
            user_id = created.id
            db.session.remove()
        return user_id

    def web_app(self, name: str, owner_id: int, redirect_uri: str, scopes: list[str]):
        """(client_id, secret) of an app registered through the portal's own service."""
        with self.app.app_context():
            client, secret = apps.create_client(
                SqlAlchemyUnitOfWork(), self.app.extensions["tessera"].catalogue, Caller(),
                apps.ClientSpec(name=name, app_type="web", redirect_uris=[redirect_uri],
                                   scopes=scopes),
                owner_id=owner_id,
            )  # fmt: skip
            client_id = client.client_id
            db.session.remove()
        return client_id, secret

    def request_scopes(self, client_id: str, user_id: int, scopes: list[str], why: str) -> int:
        with self.app.app_context():
            uow = SqlAlchemyUnitOfWork()
            row = access_requests.request_scopes(
                uow, self.app.extensions["tessera"].catalogue, Caller(),
                uow.clients.by_client_id(client_id), user_id, scopes, why,
            )  # fmt: skip
            request_id = row.id
            db.session.remove()
        return request_id


@pytest.fixture(scope="session")
def chromium() -> str:
    path = chromium_path()
    if path is None:
        reason = "Chromium is not installed: `make browser-deps` installs Debian's chromium"
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the browser tests. {reason}")
        pytest.skip(reason)
    return path


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveTessera]:
    tmp = tmp_path_factory.mktemp("browser")
    app, server, issuer = start_live_tessera(f"sqlite:///{tmp / 'tessera.db'}", tmp / "instance")
    try:
        yield LiveTessera(issuer, app)
    finally:
        stop_live_tessera(app, server)


class _Callback(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<!doctype html><title>Callback</title><h1>Back at the app</h1>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="session")
def callback_url() -> Iterator[str]:
    """The app's loopback redirect URI, answered by a tiny server (the code is read from the URL)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Callback)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/cb"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")  # Playwright leaves its event loop running until stopped
def browser(chromium: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def new_page(browser: Any, live: LiveTessera) -> Iterator[Any]:
    """A factory of pages, each in its own context (its own cookies: its own person)."""
    contexts = []

    def factory() -> Any:
        context = browser.new_context(viewport={"width": 1100, "height": 900})
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live.issuer)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        return page

    yield factory
    for context in contexts:
        context.close()


def screenshot(page: Any, name: str, *, docs: bool = False) -> Path:
    """Save under test-output/screenshots/; with UPDATE_DOCS_SCREENSHOTS=1 also docs/screenshots/."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    if docs and os.environ.get("UPDATE_DOCS_SCREENSHOTS") == "1":
        DOC_SHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOC_SHOTS / f"{name}.png")
    return path


@pytest.fixture(autouse=True)
def insecure_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    # oauthlib refuses http even on loopback without this; it affects the client side only.
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")


def sign_in(page: Any, username: str) -> None:
    page.get_by_label("Username or email").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
