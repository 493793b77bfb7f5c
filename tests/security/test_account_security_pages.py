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


def _add_passkey_row(app, user_id: int, name: str = "Blue key") -> int:
    from idp.extensions import db
    from idp.storage.unit_of_work import SqlAlchemyUnitOfWork

    with app.app_context():
        row = SqlAlchemyUnitOfWork().factors.add_passkey(
            user_id=user_id, credential_id="Y3JlZC0x", public_key=b"\xa5\x01\x02",
            sign_count=0, name=name, transports="usb", backup_eligible=False,
        )  # fmt: skip
        db.session.commit()
        passkey_id = row.id
        db.session.remove()
    return passkey_id


def test_passkeys_are_renamed_and_removed_by_their_owner_only(app, client, auth, user):
    passkey_id = _add_passkey_row(app, user_id_of(app))
    # A passkey is a factor: the password alone opens no session.
    held = auth.login()
    assert held.headers["Location"].endswith("/login/second-factor")
    assert client.get("/account/security").status_code == 303
    secret, _ = enrol_totp(app, user_id_of(app))
    with freeze_time(T0 + timedelta(minutes=1)) as frozen:
        auth.login()
        client.post(
            "/login/second-factor",
            data={
                "code": code_at(secret, T0, 60),
                "csrf_token": csrf_token(client, "/login/second-factor"),
            },
        )
        base = f"/account/security/passkeys/{passkey_id}"
        renamed = _post(client, f"{base}/rename", "/account/security", name="  Spare   key ")
        assert renamed.status_code == 303
        assert "Spare key" in client.get("/account/security").get_data(as_text=True)
        assert (
            _post(client, "/account/security/passkeys/999/remove", "/account/security").status_code
            == 303
        )
        assert "No such passkey" in client.get("/account/security").get_data(as_text=True)
        frozen.tick(timedelta(minutes=10))
        asked = _post(client, f"{base}/remove", "/account/security")
        assert "/account/security/confirm" in asked.headers["Location"]
        _post(
            client,
            "/account/security/confirm",
            "/account/security/confirm",
            proof="correct horse battery staple",
        )
        assert _post(client, f"{base}/remove", "/account/security").status_code == 303
        assert "Spare key" not in client.get("/account/security").get_data(as_text=True)


def test_garbage_passkey_answers_are_refused_cleanly(app, client, auth, user):
    auth.login()
    for path in ("/login/passkey", "/account/security/passkeys/new"):
        for answer in ("{}", "not json", '{"id": 1, "response": []}', "x" * 30000):
            response = _post(client, path, path, answer=answer, name="k")
            assert response.status_code in (400, 401), (path, answer[:20], response.status_code)
            assert "could not be verified" in response.get_data(as_text=True) or (
                "missing or expired" in response.get_data(as_text=True)
            )
