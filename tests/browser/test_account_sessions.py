"""The signed-in browsers page in real Chromium: two browsers of one person, one signed out
from the other; then the deletion page refusing a wrong password."""

from __future__ import annotations

import pytest

from tests.browser import a11y
from tests.browser.conftest import screenshot, sign_in

pytestmark = pytest.mark.browser
FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"


@pytest.fixture
def person(browser, live):
    """A factory of browser pages with a given user agent, closed afterwards."""
    contexts = []

    def factory(user_agent: str):
        context = browser.new_context(
            viewport={"width": 1100, "height": 800}, user_agent=user_agent
        )
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        return page

    yield factory
    for context in contexts:
        context.close()


def test_sessions_page_lists_both_browsers_and_signs_the_other_out(live, person):
    live.user("sofia")
    laptop, desktop = person(FIREFOX), person(CHROME)
    for page in (laptop, desktop):
        page.goto(live.url("/login"))
        sign_in(page, "sofia")
        page.wait_for_url(live.url("/account"))

    desktop.get_by_role("link", name="your signed-in browsers").click()
    desktop.wait_for_url(live.url("/account/sessions"))
    rows = desktop.locator("table.sessions tbody tr")
    assert rows.count() == 2
    assert "Chrome on Linux" in rows.nth(0).inner_text()
    assert "This browser" in rows.nth(0).inner_text()
    assert "Firefox on Windows" in rows.nth(1).inner_text()
    a11y.check(desktop)
    screenshot(desktop, "account-sessions", docs=True)

    rows.nth(1).get_by_role("button", name="Sign out").click()
    desktop.get_by_text("Firefox on Windows was signed out.").wait_for()
    assert desktop.locator("table.sessions tbody tr").count() == 1

    laptop.goto(live.url("/account"))
    laptop.wait_for_url("**/login?next=/account")


def test_deletion_page_refuses_a_wrong_password_and_keeps_the_account(live, person):
    live.user("tomas")
    page = person(CHROME)
    page.goto(live.url("/login"))
    sign_in(page, "tomas")
    page.get_by_role("link", name="delete your account").click()
    page.get_by_label("Your password, or a code from your authenticator app").fill(
        "not my password"
    )
    page.get_by_role("button", name="Delete my account").click()
    page.get_by_text("Wrong password.").wait_for()
    a11y.check(page)
    page.goto(live.url("/account"))
    assert "tomas@example.com" in page.locator("main").inner_text()
