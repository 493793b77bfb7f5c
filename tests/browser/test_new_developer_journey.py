"""Issue 15's "Done when", in real Chromium: a new developer starts at the home page, signs up,
registers an app in the portal and completes a sign-in with the Python snippet copied from its
Connect tab, run exactly as shown (its secret in the environment variable the snippet names),
and with the curl snippet in bash;
then the authorize URL builder and "Try it" with the decoded tokens. Screenshots go to
docs/screenshots/ (UPDATE_DOCS_SCREENSHOTS=1)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.browser import a11y
from tests.browser.conftest import screenshot, sign_in
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser
OPEN_PREFIX = "Open this URL in your browser and sign in: "


def sign_up_from_home(page, live, username: str) -> None:
    page.goto(live.url("/"))
    page.get_by_role("heading", name="Tessera").wait_for()
    a11y.check(page)
    screenshot(page, "home", docs=True)
    page.get_by_role("link", name="Create an account").click()
    page.get_by_label("Username").fill(username)
    page.get_by_label("Email").fill(f"{username}@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.get_by_role("link", name="Sign out").wait_for()


def register_app(page, name: str, redirect_uri: str) -> str:
    """The secret the credentials page shows once, copied with its Copy button."""
    page.get_by_role("link", name="Developers").click()
    page.get_by_role("link", name="Create an app").click()
    page.get_by_label("Web app (server-side, keeps a secret)").check()
    page.get_by_role("button", name="Show the fields for this type").click()
    page.get_by_label("App name").fill(name)
    page.get_by_label("Redirect URIs", exact=True).fill(redirect_uri)
    for scope in ("openid", "profile"):
        page.get_by_role("checkbox", name=re.compile(f"^{scope}:")).check()
    page.get_by_role("button", name="Create app").click()
    page.locator("button[data-copy=client-secret]").click()
    return page.evaluate("() => navigator.clipboard.readText()")


def run_python_snippet(page, code: str, secret: str) -> dict:
    """Run the snippet as a developer would; the browser does the signing in it asks for."""
    env = {**os.environ, "TESSERA_CLIENT_SECRET": secret}
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        line = proc.stdout.readline()
        assert line.startswith(OPEN_PREFIX), line + proc.stderr.read()
        page.goto(line[len(OPEN_PREFIX) :].strip())
        page.get_by_role("button", name="Allow").click()
        page.get_by_role("heading", name="Back at the app").wait_for()
        out, err = proc.communicate(page.url + "\n", timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    lines = out.strip().splitlines()
    assert "access_token" in lines[-2] and "id_token" in lines[-2]
    return json.loads(lines[-1])


def run_curl_snippet(page, script: str, secret: str) -> dict:
    """The curl snippet in bash; its one manual step (pasting the code) becomes a `read`."""
    assert script.count("CODE=paste-the-code-here") == 1
    script = script.replace("CODE=paste-the-code-here", "read -r CODE")
    env = {**os.environ, "TESSERA_CLIENT_SECRET": secret}
    proc = subprocess.Popen(
        ["bash", "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        page.goto(proc.stdout.readline().strip())
        page.get_by_role("heading", name="Back at the app").wait_for()
        code = parse_qs(urlsplit(page.url).query)["code"][0]
        out, err = proc.communicate(code + "\n", timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    return json.loads(out)


def test_new_developer_signs_in_with_the_connect_tab_snippet(live, new_page, callback_url):
    page = new_page()
    sign_up_from_home(page, live, "nova")
    secret = register_app(page, "Nova Trades", callback_url)

    page.get_by_role("link", name="Connect", exact=True).click()
    page.get_by_role("heading", name="Python (Authlib)").wait_for()
    a11y.check(page)
    screenshot(page, "connect-tab", docs=True)
    page.locator("button[data-copy=snippet-python]").click()
    code = page.evaluate("() => navigator.clipboard.readText()")
    assert code == page.locator("#snippet-python").text_content()
    assert secret not in page.content()

    me = run_python_snippet(page.context.new_page(), code, secret)  # a new tab, signed in
    assert me["preferred_username"] == "nova"
    token = run_curl_snippet(
        page.context.new_page(), page.locator("#snippet-curl").text_content(), secret
    )
    assert token["token_type"] == "Bearer" and token["id_token"]

    page.get_by_role("checkbox", name="profile").uncheck()
    page.get_by_role("button", name="Build the URL").click()
    built = page.locator("#built-url").input_value()
    assert "code_challenge_method=S256" in built and "scope=openid&" in built
    a11y.check(page)
    screenshot(page, "connect-builder", docs=True)

    page.get_by_role("button", name="Add the debugger callback").click()
    page.get_by_role("button", name="Try it").click()
    # Consent was given when the snippet signed in (same scopes): straight back to the debugger.
    page.get_by_label("Client secret").fill(secret)
    page.get_by_role("button", name="Exchange the code").click()
    claims = json.loads(page.locator("#id_token-claims").text_content())
    assert claims["iss"] == live.issuer
    assert page.get_by_text("signature verified").count() == 2
    a11y.check(page)
    screenshot(page, "connect-try-it-tokens", docs=True)


def test_docs_reached_from_the_home_page(live, new_page):
    page = new_page()
    page.goto(live.url("/"))
    page.get_by_role("link", name="Developer docs").click()
    page.get_by_role("heading", name="Quick start", exact=True).wait_for()
    page.get_by_role("navigation", name="Developer docs").get_by_role(
        "link", name="Scopes and what they release"
    ).click()
    assert page.locator("table code", has_text="orders:read").count() == 1
    a11y.check(page)
    screenshot(page, "docs-scopes", docs=True)


def test_a_native_apps_public_client_snippet_signs_in_without_a_secret(
    live, new_page, callback_url
):
    from idp.services import apps
    from idp.services.context import Caller
    from idp.storage.unit_of_work import SqlAlchemyUnitOfWork

    owner = live.user("nils")
    with live.app.app_context():
        client, secret = apps.create_client(
            SqlAlchemyUnitOfWork(), live.app.extensions["tessera"].catalogue, Caller(),
            apps.ClientSpec(name="Nils Desktop", app_type="native",
                            redirect_uris=[callback_url], scopes=["openid", "profile"]),
            owner_id=owner,
        )  # fmt: skip
        client_id = client.client_id
    assert secret is None
    page = new_page()
    page.goto(live.url("/login"))
    sign_in(page, "nils")
    page.get_by_role("link", name="Sign out").wait_for()
    page.goto(live.url(f"/developers/apps/{client_id}/connect"))
    code = page.locator("#snippet-python").text_content()
    assert "TESSERA_CLIENT_SECRET" not in code
    me = run_python_snippet(page.context.new_page(), code, "unused")
    assert me["preferred_username"] == "nils"
