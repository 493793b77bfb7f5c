"""Sign in with Discord in Chromium, against the stand-in Discord on loopback: a new account,
linking while signed in, the e-mail collision path and unlinking (screenshots for the docs)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import yaml

from tests.browser import a11y
from tests.browser.conftest import LiveTessera, screenshot, sign_in
from tests.live_server import start_live_tessera, stop_live_tessera
from tests.standins import discord
from tests.standins.discord import StandInDiscord


@pytest.fixture(scope="module")
def standin() -> Iterator[StandInDiscord]:
    with StandInDiscord() as server:
        server.interactive = True
        yield server


@pytest.fixture(scope="module")
def fed_live(tmp_path_factory, standin) -> Iterator[LiveTessera]:
    tmp = tmp_path_factory.mktemp("federation-browser")
    providers = tmp / "providers.yaml"
    providers.write_text(yaml.safe_dump({"providers": {"discord": standin.catalogue_entry()}}))
    previous = os.environ.get("TESSERA_DISCORD_CLIENT_SECRET")
    os.environ["TESSERA_DISCORD_CLIENT_SECRET"] = discord.CLIENT_SECRET
    app, server, issuer = start_live_tessera(
        f"sqlite:///{tmp / 'tessera.db'}", tmp / "instance", PROVIDERS_FILE=str(providers)
    )
    try:
        yield LiveTessera(issuer, app)
    finally:
        stop_live_tessera(app, server)
        if previous is None:
            os.environ.pop("TESSERA_DISCORD_CLIENT_SECRET", None)
        else:
            os.environ["TESSERA_DISCORD_CLIENT_SECRET"] = previous


@pytest.fixture
def page(browser, fed_live) -> Iterator:
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    yield tab
    context.close()


def _as_discord_user(standin: StandInDiscord, discord_id: str, username: str, email: str) -> None:
    standin.user = {"id": discord_id, "username": username, "global_name": username,
                    "email": email, "verified": True}  # fmt: skip


def _authorize_at_discord(page) -> None:
    page.get_by_role("heading", name="Discord (stand-in)").wait_for()
    page.get_by_role("button", name="Authorize").click()


def test_sign_in_with_discord_creates_an_account(page, fed_live, standin):
    _as_discord_user(standin, "1001", "nelly", "nelly@example.com")
    page.goto(fed_live.url("/login"))
    a11y.check(page)
    screenshot(page, "federation-login", docs=True)
    page.get_by_role("link", name="Sign in with Discord").click()
    screenshot(page, "federation-standin-discord", docs=True)
    _authorize_at_discord(page)
    page.get_by_role("heading", name="Choose a username").wait_for()
    assert page.get_by_label("Username").input_value() == "nelly"  # suggested from Discord
    a11y.check(page)
    screenshot(page, "federation-choose-username", docs=True)
    page.get_by_role("button", name="Create account").click()
    page.get_by_role("heading", name="Your account").wait_for()
    page.goto(fed_live.url("/account/linked"))
    assert page.get_by_role("cell", name="nelly").is_visible()
    assert page.get_by_text("only way to sign in").is_visible()
    a11y.check(page)
    screenshot(page, "federation-linked-only-way", docs=True)


def test_link_while_signed_in_then_unlink(page, fed_live, standin):
    fed_live.user("linker")
    _as_discord_user(standin, "1002", "linker_dc", "other-address@example.com")
    page.goto(fed_live.url("/login"))
    sign_in(page, "linker")
    page.goto(fed_live.url("/account/linked"))
    assert page.get_by_text("No linked accounts.").is_visible()
    page.get_by_role("button", name="Link Discord").click()
    _authorize_at_discord(page)
    page.get_by_text("Your Discord account is linked.").wait_for()
    a11y.check(page)
    screenshot(page, "federation-linked", docs=True)
    page.get_by_role("button", name="Unlink Discord").click()
    page.get_by_text("The account is unlinked.").wait_for()
    assert page.get_by_text("No linked accounts.").is_visible()
    screenshot(page, "federation-unlinked", docs=True)


def test_email_collision_asks_for_the_password_first(page, fed_live, standin):
    fed_live.user("collider")  # collider@example.com
    _as_discord_user(standin, "1003", "collider_dc", "collider@example.com")
    page.goto(fed_live.url("/login"))
    page.get_by_role("link", name="Sign in with Discord").click()
    _authorize_at_discord(page)
    page.get_by_text("An account with this e-mail exists").wait_for()
    assert page.get_by_role("heading", name="Sign in").is_visible()
    screenshot(page, "federation-collision-sign-in", docs=True)
    sign_in(page, "collider")
    page.get_by_text("Your Discord account is linked: you can sign in with it now.").wait_for()
    # Signed out, Discord alone now signs in to that same account.
    page.goto(fed_live.url("/logout"))
    page.get_by_role("button", name="Sign out").click()
    page.goto(fed_live.url("/login"))
    page.get_by_role("link", name="Sign in with Discord").click()
    _authorize_at_discord(page)
    page.get_by_role("heading", name="Your account").wait_for()
    assert page.get_by_text("collider@example.com", exact=True).is_visible()


def test_an_upstream_failure_is_a_clear_page(page, fed_live, standin):
    standin.deny = True
    try:
        page.goto(fed_live.url("/login"))
        page.get_by_role("link", name="Sign in with Discord").click()
        _authorize_at_discord(page)
        page.get_by_role("heading", name="Sign-in did not complete").wait_for()
        assert page.get_by_text("Nobody was signed in").is_visible()
        a11y.check(page)
        screenshot(page, "federation-failed", docs=True)
    finally:
        standin.deny = False
