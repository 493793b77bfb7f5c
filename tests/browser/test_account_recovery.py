"""Account recovery in real Chromium: "Forgot password?" on the sign-in page, the mail delivered
over SMTP to a real server on loopback (aiosmtpd), its link followed from the rendered mail, a
new password, signed in; and the bad links (used, expired, forged) that change nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from idp.domain.clock import utcnow
from idp.extensions import db
from idp.services.mail import PASSWORD_RESET, issue_token
from idp.storage.unit_of_work import SqlAlchemyUnitOfWork
from tests.browser import a11y
from tests.browser.conftest import LiveTessera, screenshot, sign_in
from tests.live_server import start_live_tessera, stop_live_tessera
from tests.smtp_server import SmtpServer, body_html, link_in

pytestmark = pytest.mark.browser
NEW_PASSWORD = "a fresh passphrase after the reset"


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def mail_live(tmp_path_factory, smtp) -> Iterator[LiveTessera]:
    """Tessera with TESSERA_SMTP_URL and its mail sender thread running, as `tessera serve`."""
    tmp = tmp_path_factory.mktemp("recovery")
    app, server, issuer = start_live_tessera(
        f"sqlite:///{tmp / 'tessera.db'}", tmp / "instance", SMTP_URL=smtp.url
    )
    sender = app.extensions["tessera"].mail_sender
    with app.app_context():
        sender.start(db.engine)
    try:
        yield LiveTessera(issuer, app)
    finally:
        with app.app_context():
            sender.stop(db.engine)
        stop_live_tessera(app, server)


@pytest.fixture
def page(browser, mail_live) -> Iterator:
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def show_mail(page, message, tmp: Path) -> None:
    """Open the delivered HTML mail in the browser, as a mail client would show it."""
    path = tmp / "mail.html"
    path.write_text(body_html(message))
    page.goto(path.as_uri())


def test_forgot_password_mail_over_smtp_link_reset_signed_in(page, mail_live, smtp, tmp_path):
    mail_live.user("mira")
    page.goto(mail_live.url("/login"))
    page.get_by_role("link", name="Forgot password?").click()
    page.get_by_role("heading", name="Forgot your password?").wait_for()
    a11y.check(page)
    screenshot(page, "forgot-password", docs=True)
    page.get_by_label("Username or email").fill("mira@example.com")
    page.get_by_role("button", name="Send me a link").click()
    page.get_by_text("If an account matches").wait_for()

    [message] = smtp.wait_for(1)  # delivered by the sender thread after the commit
    assert message["To"] == "mira@example.com" and message["Subject"] == "Reset your password"
    show_mail(page, message, tmp_path)
    screenshot(page, "mail-link", docs=True)
    page.get_by_role("link", name="Choose a new password").click()

    page.get_by_role("heading", name="Choose a new password").wait_for()
    assert page.url == link_in(message)
    a11y.check(page)
    screenshot(page, "reset-password", docs=True)
    page.get_by_label("New password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set the new password").click()
    page.get_by_text("Your password was changed. You are signed in.").wait_for()
    assert page.url == mail_live.url("/account")

    # The same link again: used, said so, nothing changes.
    page.goto(link_in(message))
    page.get_by_text("This link has already been used. Ask for a new one.").wait_for()
    screenshot(page, "reset-link-used")
    page.get_by_role("link", name="Ask for a new link").wait_for()


def test_bad_links_say_why_and_change_nothing(page, mail_live):
    user_id = mail_live.user("noor")
    with mail_live.app.app_context():
        uow = SqlAlchemyUnitOfWork()
        user = uow.users.get(user_id)
        past = utcnow() - timedelta(minutes=1)
        expired = issue_token(uow, user, PASSWORD_RESET, past, past - timedelta(minutes=30))
        uow.commit()
        db.session.remove()
    page.goto(mail_live.url(f"/password/reset/{expired}"))
    page.get_by_text("This link has expired. Ask for a new one.").wait_for()
    screenshot(page, "reset-link-expired")
    page.goto(mail_live.url("/password/reset/made-up-token"))
    page.get_by_text("This link is not valid. Check that you copied all of it.").wait_for()
    assert page.get_by_label("New password").count() == 0

    page.goto(mail_live.url("/login"))
    sign_in(page, "noor")  # the old password (the fixtures' PASSWORD) still works
    page.wait_for_url(mail_live.url("/account"))


def test_registration_verification_and_email_change_in_the_browser(page, mail_live, smtp):
    already = len(smtp.messages)
    page.goto(mail_live.url("/register"))
    page.get_by_label("Username").fill("vera")
    page.get_by_label("Email").fill("vera@example.com")
    page.get_by_label("Password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(mail_live.url("/account"))
    assert page.get_by_text("Not verified").count() == 1

    verify = smtp.wait_for(already + 1)[already]
    assert verify["To"] == "vera@example.com"
    page.goto(link_in(verify))
    page.get_by_text("your e-mail address is confirmed").wait_for()
    page.goto(mail_live.url("/account"))
    assert page.get_by_text("Verified", exact=True).count() == 1

    page.get_by_label("New email").fill("vera.new@example.com")
    page.get_by_label("Your current password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change email").click()
    page.get_by_text("We sent a link to vera.new@example.com").wait_for()
    a11y.check(page)
    screenshot(page, "account-email")
    confirm, notice = smtp.wait_for(already + 3)[already + 1 :]
    assert {confirm["To"], notice["To"]} == {"vera.new@example.com", "vera@example.com"}
    if confirm["To"] != "vera.new@example.com":
        confirm, notice = notice, confirm
    page.goto(link_in(confirm))
    page.get_by_text("is now vera.new@example.com").wait_for()
    page.goto(mail_live.url("/account"))
    assert "vera.new@example.com" in page.locator("main").inner_text()
