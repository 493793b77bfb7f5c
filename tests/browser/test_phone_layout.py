"""Issue 15, layout on a phone (390 px wide), measured in Chromium: the consent page shows Allow
without scrolling, admin tables fit the screen, and the usage chart's x-axis labels do not
overlap (bounding boxes compared)."""

from __future__ import annotations

from typing import Any

import pytest
from requests_oauthlib import OAuth2Session

from tests.browser.conftest import screenshot, sign_in

pytestmark = pytest.mark.browser
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def phone(browser: Any, live: Any):
    contexts = []

    def factory() -> Any:
        context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        return page

    yield factory
    for context in contexts:
        context.close()


def overflow(page: Any) -> int:
    """How far the page is wider than the screen (0: no sideways scrolling)."""
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


def test_consent_on_a_phone_shows_allow_without_scrolling(live, phone, callback_url):
    dev = live.user("penny")
    live.user("phil")
    client_id, _secret = live.web_app(
        "Pocket Trader", dev, callback_url, ["openid", "profile", "email", "orders:read"]
    )
    page = phone()
    oauth = OAuth2Session(
        client_id, redirect_uri=callback_url, scope=["openid", "profile", "email", "orders:read"],
        pkce="S256",
    )  # fmt: skip
    url, _ = oauth.authorization_url(live.url("/oauth/authorize"))
    page.goto(url)
    sign_in(page, "phil")
    allow = page.get_by_role("button", name="Allow")
    allow.wait_for()
    assert page.evaluate("window.scrollY") == 0
    box = allow.bounding_box()
    assert box is not None and box["y"] + box["height"] <= PHONE["height"], box
    assert page.locator("nav[aria-label=Main]").count() == 0
    assert page.get_by_role("button", name="Not you?").is_visible()
    assert overflow(page) <= 0
    screenshot(page, "consent-phone")


@pytest.mark.parametrize("path", ["/admin/requests", "/admin/apps", "/admin/users", "/admin/audit"])
def test_admin_tables_fit_a_390px_screen(live, phone, path):
    live.user("ada", admin=True) if path == "/admin/requests" else None
    page = phone()
    page.goto(live.url("/login"))
    sign_in(page, "ada")
    page.goto(live.url(path))
    page.wait_for_load_state()
    assert overflow(page) <= 0, f"{path} is {overflow(page)} px wider than the screen"
    for table in page.locator("table").all():
        box = table.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"] + 1
    screenshot(page, "admin" + path.replace("/admin", "").replace("/", "-") + "-phone")


def _boxes_overlap(a: dict, b: dict) -> bool:
    return not (
        a["x"] + a["width"] <= b["x"]
        or b["x"] + b["width"] <= a["x"]
        or a["y"] + a["height"] <= b["y"]
        or b["y"] + b["height"] <= a["y"]
    )


@pytest.mark.parametrize("width", [390, 1100])
def test_usage_chart_x_labels_do_not_overlap(live, browser, width):
    owner = live.user(f"uma{width}")
    client_id, _ = live.web_app(f"Chart App {width}", owner, "http://127.0.0.1:9/cb", ["openid"])
    context = browser.new_context(viewport={"width": width, "height": 900})
    try:
        page = context.new_page()
        page.goto(live.url("/login"))
        sign_in(page, f"uma{width}")
        for path in (f"/developers/apps/{client_id}", f"/developers/apps/{client_id}/usage"):
            page.goto(live.url(path))
            labels = page.locator("svg.chart text.axis[text-anchor=middle]")
            boxes = [labels.nth(i).bounding_box() for i in range(labels.count())]
            assert len(boxes) >= 4
            for i, a in enumerate(boxes):
                for b in boxes[i + 1 :]:
                    assert not _boxes_overlap(a, b), (path, a, b)
    finally:
        context.close()
