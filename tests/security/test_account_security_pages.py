"""/account/security: enrol an authenticator app through the pages (QR as an SVG data: URI),
recovery codes shown once, fresh identity before changing factors. SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import timedelta

import pyotp
from freezegun import freeze_time

from tests.conftest import csrf_token
from tests.security.mfa_helpers import CODE_RE, T0, code_at, enrol_totp, user_id_of

SECRET_RE = re.compile(r'<code class="secret" id="totp-secret">([A-Z2-7 ]+)</code>')


def _post(client, path: str, form_page: str, **data: str):
    return client.post(path, data={**data, "csrf_token": csrf_token(client, form_page)})


def test_enrol_an_authenticator_app_through_the_pages(client, auth, user):
    with freeze_time(T0) as frozen:
        auth.login()
        started = _post(client, "/account/security/totp/start", "/account/security")
        assert started.status_code == 303 and started.headers["Location"].endswith("/totp")
        page = client.get("/account/security/totp")
        html = page.get_data(as_text=True)
        assert page.status_code == 200 and 'src="data:image/svg+xml' in html
        assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
        secret = SECRET_RE.search(html).group(1).replace(" ", "")
        wrong = _post(client, "/account/security/totp", "/account/security/totp", code="123456")
        assert wrong.status_code == 400 and "not correct" in wrong.get_data(as_text=True)
        done = _post(
            client, "/account/security/totp", "/account/security/totp",
            code=pyotp.TOTP(secret).at(T0),
        )  # fmt: skip
        codes = CODE_RE.findall(done.get_data(as_text=True))
        assert done.status_code == 200 and len(codes) == 10
        assert "10 of 10 recovery codes left" in client.get("/account/security").get_data(
            as_text=True
        )
        # Regenerating within the fresh window replaces every code.
        frozen.tick(timedelta(seconds=60))
        again = _post(client, "/account/security/recovery-codes", "/account/security")
        new_codes = CODE_RE.findall(again.get_data(as_text=True))
        assert len(new_codes) == 10 and not set(new_codes) & set(codes)


def test_changing_factors_needs_a_fresh_password_or_code(app, client, auth, user):
    secret, codes = enrol_totp(app, user_id_of(app))
    with freeze_time(T0 + timedelta(minutes=1)) as frozen:
        auth.login()
        assert (
            client.post(
                "/login/second-factor",
                data={"code": codes[0], "csrf_token": csrf_token(client, "/login/second-factor")},
            ).status_code
            == 303
        )
        frozen.tick(timedelta(minutes=10))  # the sign-in is no longer fresh
        asked = _post(client, "/account/security/totp/disable", "/account/security")
        assert asked.status_code == 303 and "/account/security/confirm" in asked.headers["Location"]
        bad = _post(client, "/account/security/confirm", "/account/security/confirm", proof="nope")
        assert bad.status_code == 401
        # A TOTP code does as well as the password.
        code = code_at(secret, T0, 660)
        ok = _post(client, "/account/security/confirm", "/account/security/confirm", proof=code)
        assert ok.status_code == 303
        gone = _post(client, "/account/security/totp/disable", "/account/security")
        assert gone.status_code == 303
        assert "Set up an authenticator app" in client.get("/account/security").get_data(
            as_text=True
        )


def test_recovery_codes_page_needs_totp(client, auth, user):
    auth.login()
    response = _post(client, "/account/security/recovery-codes", "/account/security")
    assert response.status_code == 303
    assert "set one up first" in client.get("/account/security").get_data(as_text=True)
