"""/developers/tokens in real Chromium: a developer makes a personal access token, copies it
once, drives the live management API with it, and revokes it (docs/security.md#31)."""

from __future__ import annotations

import re

import pytest
import requests

from tests.browser import a11y
from tests.browser.conftest import screenshot, sign_in

pytestmark = pytest.mark.browser


def test_make_copy_use_and_revoke_a_personal_access_token(live, new_page):
    live.user("patdev")
    page = new_page()
    page.goto(live.url("/login"))
    sign_in(page, "patdev")
    page.get_by_role("link", name="Developers").click()
    page.get_by_role("link", name="Personal access tokens").click()
    a11y.check(page)
    page.get_by_label("Name").fill("deploy script")
    page.get_by_role("checkbox", name=re.compile("^apps:manage:")).check()
    page.get_by_label("Expires after").select_option("90")
    page.get_by_role("button", name="Create token").click()
    shown = page.get_by_label("Your new token").input_value()
    page.locator("button[data-copy=new-token]").click()
    assert page.evaluate("() => navigator.clipboard.readText()") == shown
    assert shown.startswith("tsr_pat_")
    a11y.check(page)
    screenshot(page, "developer-tokens", docs=True)

    api = live.url("/api/v1/apps")
    headers = {"Authorization": f"Bearer {shown}"}
    created = requests.post(
        api, json={"name": "Bot", "app_type": "service", "scopes": ["market:read"]},
        headers=headers, timeout=10,
    )  # fmt: skip
    assert created.status_code == 201, created.text
    assert [a["name"] for a in requests.get(api, headers=headers, timeout=10).json()["apps"]] == [
        "Bot"
    ]

    page.reload()  # shown once: gone now, and the list shows its last use
    assert page.get_by_label("Your new token").count() == 0
    row = page.get_by_role("row", name=re.compile("deploy script"))
    assert "never" not in row.inner_text() and "active" in row.inner_text()
    row.get_by_role("button", name="Revoke deploy script").click()
    page.get_by_role("row", name=re.compile("deploy script")).get_by_text("revoked").wait_for()
    refused = requests.get(api, headers=headers, timeout=10)
    assert refused.status_code == 401 and "invalid_token" in refused.headers["WWW-Authenticate"]
