"""Second factors in real Chromium (docs/mfa.md): an authenticator app enrolled from the QR
code page and required at the next sign-in (a recovery code gets in), then passkeys through a
virtual authenticator (Chrome DevTools Protocol WebAuthn domain, over Playwright's CDP session):
registered, renamed, used without a password and as the second step after one.

Served on "localhost": WebAuthn refuses an IP address as the relying party id.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import jwt
import pyotp
import pytest
from requests_oauthlib import OAuth2Session

from idp.domain.claims import ACR_MFA
from tests.browser import a11y
from tests.browser.conftest import LiveTessera, screenshot, sign_in
from tests.live_server import start_live_tessera, stop_live_tessera

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveTessera]:
    tmp = tmp_path_factory.mktemp("browser-mfa")
    app, server, issuer = start_live_tessera(
        f"sqlite:///{tmp / 'tessera.db'}", tmp / "instance", host_name="localhost"
    )
    try:
        yield LiveTessera(issuer, app)
    finally:
        stop_live_tessera(app, server)


@pytest.fixture
def page(browser, local: LiveTessera) -> Iterator:
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def sign_out(page, local: LiveTessera) -> None:
    page.goto(local.url("/logout"))
    page.get_by_role("button", name="Sign out of Tessera").click()
    page.get_by_role("heading", name="Sign in").wait_for()


def test_totp_enrolment_with_the_qr_code_then_required_at_sign_in(page, local):
    local.user("mira")
    page.goto(local.url("/login?next=/account/security"))
    sign_in(page, "mira")
    page.get_by_role("button", name="Set up an authenticator app").click()
    qr = page.get_by_role("img", name=re.compile("QR code"))
    qr.wait_for()
    assert qr.get_attribute("src").startswith("data:image/svg+xml")
    assert qr.evaluate("img => img.naturalWidth") > 100  # the SVG really renders
    a11y.check(page)
    screenshot(page, "mfa-totp-enrol", docs=True)
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    page.get_by_label("Code from your authenticator app").fill("000000")
    page.get_by_role("button", name="Turn on").click()
    page.get_by_text("That code is not correct").wait_for()
    page.get_by_label("Code from your authenticator app").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Turn on").click()
    page.get_by_role("heading", name="Your recovery codes").wait_for()
    codes = page.locator("#recovery-codes code").all_inner_texts()
    assert len(codes) == 10
    screenshot(page, "mfa-recovery-codes", docs=True)
    page.get_by_role("link", name="I saved them, continue").click()
    page.get_by_text("10 of 10 recovery codes left").wait_for()

    sign_out(page, local)
    sign_in(page, "mira")
    page.get_by_role("heading", name="One more step").wait_for()
    a11y.check(page)
    screenshot(page, "mfa-second-factor", docs=True)
    field = page.get_by_label("Code from your authenticator app, or a recovery code")
    field.fill("123456")
    page.get_by_role("button", name="Verify").click()
    page.get_by_text("That code is not correct").wait_for()
    field.fill(codes[0])
    page.get_by_role("button", name="Verify").click()
    page.get_by_role("link", name="Sign out").wait_for()
    page.goto(local.url("/account/security"))
    page.get_by_text("9 of 10 recovery codes left").wait_for()


def add_virtual_authenticator(page) -> tuple[object, str]:
    """A platform authenticator with user verification, answering without a touch."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable", {"enableUI": False})
    added = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    return cdp, added["authenticatorId"]


def test_passkey_registration_then_passwordless_and_second_factor_sign_in(
    page, local, callback_url
):
    owner = local.user("omar")
    cdp, authenticator = add_virtual_authenticator(page)
    page.goto(local.url("/login?next=/account/security"))
    sign_in(page, "omar")
    page.get_by_role("link", name="Add a passkey").click()
    page.get_by_label("Name").fill("Laptop")
    a11y.check(page)
    page.get_by_role("button", name="Create the passkey").click()
    page.get_by_text("Passkey “Laptop” added.").wait_for()
    stored = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})
    assert len(stored["credentials"]) == 1 and stored["credentials"][0]["isResidentCredential"]
    page.get_by_label("New name").fill("Work laptop")
    page.get_by_role("button", name="Rename").click()
    page.get_by_text("Passkey renamed.").wait_for()
    page.get_by_text("Work laptop", exact=True).wait_for()
    screenshot(page, "mfa-passkeys", docs=True)

    # Passwordless: no username, no password.
    sign_out(page, local)
    page.get_by_role("link", name="Sign in with a passkey").click()
    a11y.check(page)
    screenshot(page, "mfa-passkey-sign-in", docs=True)
    page.get_by_role("button", name="Sign in with a passkey").click()
    page.get_by_role("link", name="Sign out").wait_for()
    page.goto(local.url("/account"))
    page.get_by_text("omar", exact=True).wait_for()
    claims = id_token_after_consent(page, local, owner, callback_url)
    assert claims["amr"] == ["hwk", "mfa"] and claims["acr"] == ACR_MFA

    # With the password, the passkey is now the required second step.
    sign_out(page, local)
    sign_in(page, "omar")
    page.get_by_role("heading", name="One more step").wait_for()
    page.get_by_role("button", name="Use a passkey").click()
    page.get_by_role("link", name="Sign out").wait_for()
    signs = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})
    assert signs["credentials"][0]["signCount"] >= 3  # registration, then two sign-ins


def id_token_after_consent(page, local: LiveTessera, owner: int, callback_url: str) -> dict:
    """The code flow of a real client (requests-oauthlib, PKCE) asking for MFA by acr_values,
    with the browser's session; the ID token's claims."""
    client_id, secret = local.web_app("Ledger", owner, callback_url, ["openid", "profile"])
    oauth = OAuth2Session(client_id, redirect_uri=callback_url, scope=["openid"], pkce="S256")
    url, _state = oauth.authorization_url(local.url("/oauth/authorize"), acr_values=ACR_MFA)
    page.goto(url)
    page.get_by_role("button", name="Allow").click()
    page.wait_for_url(callback_url + "*")
    token = oauth.fetch_token(
        local.url("/oauth/token"), authorization_response=page.url, client_secret=secret
    )
    # Claims only: the signature is the OIDC tests' business (tests/security/test_oidc.py).
    return jwt.decode(token["id_token"], options={"verify_signature": False})


def test_a_passkey_that_is_not_registered_is_refused(page, local):
    add_virtual_authenticator(page)  # empty: no credential for this site
    page.goto(local.url("/login/passkey"))
    page.get_by_role("button", name="Sign in with a passkey").click()
    page.get_by_text("No passkey was used").wait_for()
    assert "/login/passkey" in page.url
