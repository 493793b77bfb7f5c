"""CORS in real Chromium: the Connect tab's JavaScript snippet, served as a single-page app on
another loopback port (another origin), signs in with PKCE and calls the token and userinfo
endpoints with fetch(); a page on an origin no app registered is refused by the token endpoint
and the browser keeps the answer from it."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.browser.conftest import screenshot, sign_in

pytestmark = pytest.mark.browser


class StaticPage:
    """A tiny static server answering every GET with one HTML page (set after it starts)."""

    def __init__(self) -> None:
        page = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = page.html.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.html = "<!doctype html><title>empty</title>"
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def static_pages() -> Iterator[Any]:
    made: list[StaticPage] = []

    def factory() -> StaticPage:
        made.append(StaticPage())
        return made[-1]

    yield factory
    for page in made:
        page.close()


def spa_snippet(page, live, client_id: str) -> str:
    page.goto(live.url(f"/developers/apps/{client_id}/connect"))
    return page.locator("#snippet-javascript").text_content()


def test_spa_signs_in_from_another_origin_and_a_foreign_origin_is_refused(
    live, new_page, static_pages
):
    spa, evil = static_pages(), static_pages()
    owner = live.user("sora")
    with live.app.app_context():
        from idp.services import apps
        from idp.services.context import Caller
        from idp.storage.unit_of_work import SqlAlchemyUnitOfWork

        client, _ = apps.create_client(
            SqlAlchemyUnitOfWork(), live.app.extensions["tessera"].catalogue, Caller(),
            apps.ClientSpec(name="Sora Overlay", app_type="spa",
                            redirect_uris=[spa.origin + "/"], scopes=["openid", "profile"]),
            owner_id=owner,
        )  # fmt: skip
        client_id = client.client_id
    page = new_page()
    page.goto(live.url("/login"))
    sign_in(page, "sora")
    page.get_by_role("link", name="Sign out").wait_for()
    spa.html = spa_snippet(page, live, client_id)
    assert f'const REDIRECT_URI = "{spa.origin}/";' in spa.html

    page.goto(spa.origin + "/")
    page.get_by_role("button", name="Sign in with Tessera").click()
    page.get_by_role("button", name="Allow").click()
    page.wait_for_url(spa.origin + "/")
    page.wait_for_function("document.getElementById('result').textContent.length > 0")
    me = json.loads(page.locator("#result").text_content())
    assert me["preferred_username"] == "sora"
    screenshot(page, "spa-cors-signed-in")

    # The same fetch from an origin no app registered: refused, and unreadable to the page.
    evil.html = "<!doctype html><title>elsewhere</title><p>elsewhere</p>"
    page.goto(evil.origin + "/")
    outcome = page.evaluate(
        """async ([tokenUrl, clientId]) => {
          try {
            await fetch(tokenUrl, {method: "POST", body: new URLSearchParams({
              grant_type: "authorization_code", code: "x", redirect_uri: "x",
              client_id: clientId, code_verifier: "x"})});
            return "read";
          } catch (e) { return "blocked: " + e.name; }
        }""",
        [live.url("/oauth/token"), client_id],
    )
    assert outcome == "blocked: TypeError"
    # The allowed origin's preflighted call (Authorization header) passes preflight.
    page.goto(spa.origin + "/")
    status = page.evaluate(
        """async (url) => (await fetch(url, {headers: {Authorization: "Bearer nope"}})).status""",
        live.url("/oauth/userinfo"),
    )
    assert status == 401  # readable: the preflight was granted; the token is simply wrong
