"""Portal credentials and usage: rotation with a grace period, revoking old secrets, token counts."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from freezegun import freeze_time

from idp.extensions import db
from idp.storage.models import UsageDaily
from tests.conftest import csrf_token
from tests.portal.test_developer_fixtures import (
    SECRET_RE,
    create_app_via_portal,
    load_client,
    signed_in,
    token_for,
)
from tests.security.conftest import WEB_REDIRECT, App, Flow

BOT = {"name": "Bot", "app_type": "service", "redirect_uris": "", "scopes": ["market:read"]}


@pytest.fixture
def dev(app):
    return signed_in(app, "dana")


def rotate(dev, client_id: str, grace: int) -> str:
    token = csrf_token(dev, f"/developers/apps/{client_id}/credentials")
    form = {"csrf_token": token, "grace": grace, **({"confirm_now": "y"} if grace == 0 else {})}
    response = dev.post(f"/developers/apps/{client_id}/secret/rotate", data=form)
    assert response.status_code == 303
    page = dev.get(response.headers["Location"]).get_data(as_text=True)
    return SECRET_RE.search(page).group(1)


@pytest.mark.parametrize("grace", [3600, 86400, 604800])
def test_checklist_14_rotation_keeps_old_secret_for_the_chosen_grace(app, dev, grace):
    start = datetime.now(UTC)
    with freeze_time(start) as frozen:
        client_id, old = create_app_via_portal(dev, **BOT)
        new = rotate(dev, client_id, grace)
        assert new != old
        assert token_for(app, client_id, old).status_code == 200
        assert token_for(app, client_id, new).status_code == 200
        frozen.move_to(start + timedelta(seconds=grace - 5))
        assert token_for(app, client_id, old).status_code == 200
        frozen.move_to(start + timedelta(seconds=grace + 5))
        assert token_for(app, client_id, old).status_code == 401
        assert token_for(app, client_id, new).status_code == 200


def test_checklist_14_rotation_without_grace_stops_old_secret_at_once(app, dev):
    client_id, old = create_app_via_portal(dev, **BOT)
    new = rotate(dev, client_id, 0)
    assert token_for(app, client_id, old).status_code == 401
    assert token_for(app, client_id, new).status_code == 200


def test_rotated_secret_is_shown_once(app, dev):
    client_id, _ = create_app_via_portal(dev, **BOT)
    new = rotate(dev, client_id, 3600)
    page = dev.get(f"/developers/apps/{client_id}/credentials").get_data(as_text=True)
    assert new not in page


def test_unknown_grace_choice_is_refused(app, dev):
    client_id, old = create_app_via_portal(dev, **BOT)
    token = csrf_token(dev, f"/developers/apps/{client_id}/credentials")
    response = dev.post(
        f"/developers/apps/{client_id}/secret/rotate", data={"csrf_token": token, "grace": "99"}
    )
    assert response.status_code == 400
    assert "Not a valid choice" in response.get_data(as_text=True)
    assert len(load_client(app, client_id).secrets) == 1
    assert token_for(app, client_id, old).status_code == 200


def test_checklist_14_revoke_old_secrets_now(app, dev):
    client_id, old = create_app_via_portal(dev, **BOT)
    new = rotate(dev, client_id, 604800)
    page = dev.get(f"/developers/apps/{client_id}/credentials").get_data(as_text=True)
    assert "Revoke old secrets now" in page
    token = csrf_token(dev, f"/developers/apps/{client_id}/credentials")
    response = dev.post(
        f"/developers/apps/{client_id}/secret/revoke-old",
        data={"csrf_token": token, "confirm": "y"},
    )
    assert response.status_code == 303
    assert token_for(app, client_id, old).status_code == 401
    assert token_for(app, client_id, new).status_code == 200
    assert len(load_client(app, client_id).secrets) == 1


def test_copy_button_script_is_same_origin(app, dev):
    client_id, _ = create_app_via_portal(dev, **BOT)
    page = dev.get(f"/developers/apps/{client_id}/credentials")
    html = page.get_data(as_text=True)
    assert '<script src="/static/portal.js"' in html and "<script>" not in html
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["Cache-Control"] == "no-store"
    assert app.test_client().get("/static/portal.js").status_code == 200


def test_token_issuance_counts_per_app_per_day(app):
    with freeze_time("2026-03-01 23:59:00"):
        dev = signed_in(app, "dana")
        client_id, secret = create_app_via_portal(dev, **BOT)
        for _ in range(3):
            assert token_for(app, client_id, secret).status_code == 200
    with freeze_time("2026-03-02 00:01:00"):
        assert token_for(app, client_id, secret).status_code == 200
        assert token_for(app, client_id, "wrong").status_code == 401  # failures are not counted
        page = dev.get(f"/developers/apps/{client_id}").get_data(as_text=True)
    with app.app_context():
        rows = {r.day: r.tokens_issued for r in db.session.query(UsageDaily).all()}
    assert rows == {date(2026, 3, 1): 3, date(2026, 3, 2): 1}
    assert "<svg" in page and "4 in total over 30 days" in page
    assert "<title>2026-03-01: 3</title>" in page
    # A service leaves no per-token rows: its last use is the day of the daily counter.
    assert "<dt>Last used</dt><dd>2026-03-02</dd>" in page


def test_usage_shows_active_users_and_last_use_for_user_tokens(app, dev):
    client_id, secret = create_app_via_portal(dev, redirect_uris=WEB_REDIRECT)
    web = App(client_id, secret, WEB_REDIRECT)
    Flow(dev).tokens(web, scope="openid profile")
    page = dev.get(f"/developers/apps/{client_id}").get_data(as_text=True)
    active = page.split("<dt>Active users</dt><dd>")[1].split("</dd>")[0]
    assert active == "1"
    assert "never" not in page.split("<dt>Last used</dt>")[1].split("</dd>")[0]
    assert "1 in total over 30 days" in page


def test_one_time_secret_is_encrypted_in_the_session_cookie(app):
    """The session cookie is signed, not encrypted: a secret in it must not be readable."""
    from flask import session

    from portal.developer.blueprint import remember_secret, take_secret

    with app.test_request_context("/"):
        remember_secret("some-client", "the-very-secret-value")
        cookie_value = app.session_interface.get_signing_serializer(app).dumps(dict(session))
        serialized = app.session_interface.serializer.dumps(dict(session))
        assert (
            "the-very-secret-value" not in serialized
            and "the-very-secret-value" not in cookie_value
        )
        assert take_secret("some-client") == "the-very-secret-value"
        assert take_secret("some-client") is None  # once only


def test_rotation_defaults_to_one_hour_grace(app, dev):
    """The form's preselected choice is the CLI's and the API's default: one hour."""
    client_id, _ = create_app_via_portal(dev, **BOT)
    page = dev.get(f"/developers/apps/{client_id}/credentials").get_data(as_text=True)
    assert '<option selected value="3600">1 hour</option>' in page


def test_rotation_without_grace_needs_confirmation(app, dev):
    client_id, old = create_app_via_portal(dev, **BOT)
    token = csrf_token(dev, f"/developers/apps/{client_id}/credentials")
    response = dev.post(
        f"/developers/apps/{client_id}/secret/rotate", data={"csrf_token": token, "grace": 0}
    )
    assert response.status_code == 400
    assert "confirm that the old secret stops working now" in response.get_data(as_text=True)
    assert len(load_client(app, client_id).secrets) == 1
    assert token_for(app, client_id, old).status_code == 200


def test_revoke_old_secrets_needs_confirmation(app, dev):
    client_id, old = create_app_via_portal(dev, **BOT)
    rotate(dev, client_id, 604800)
    token = csrf_token(dev, f"/developers/apps/{client_id}/credentials")
    response = dev.post(
        f"/developers/apps/{client_id}/secret/revoke-old", data={"csrf_token": token}
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and 'class="error-box error-summary"' in html
    assert "Tick the box to confirm" in html
    assert token_for(app, client_id, old).status_code == 200
    assert len(load_client(app, client_id).secrets) == 2


def test_each_secret_shows_last_4_created_and_last_use(app):
    with freeze_time("2026-03-01 10:00:00") as frozen:
        dev = signed_in(app, "dana")
        client_id, old = create_app_via_portal(dev, **BOT)
        page = dev.get(f"/developers/apps/{client_id}/credentials").get_data(as_text=True)
        row = page.split(f"<code>…{old[-4:]}</code>")[1].split("</tr>")[0]
        assert "2026-03-01 10:00 UTC" in row and "<td>never</td>" in row
        frozen.move_to("2026-03-01 10:05:00")
        new = rotate(dev, client_id, 3600)
        frozen.move_to("2026-03-01 10:07:30")
        assert token_for(app, client_id, new).status_code == 200
        page = dev.get(f"/developers/apps/{client_id}/credentials").get_data(as_text=True)
    new_row = page.split(f"<code>…{new[-4:]}</code>")[1].split("</tr>")[0]
    old_row = page.split(f"<code>…{old[-4:]}</code>")[1].split("</tr>")[0]
    assert "<td>2026-03-01 10:05 UTC</td>" in new_row  # created
    assert "<td>2026-03-01 10:07 UTC</td>" in new_row  # last used
    assert "<td>never</td>" in old_row.split("</td>", 2)[2]  # old one: not used since
    assert new not in page and old not in page


def test_last_use_is_written_at_most_once_a_minute(app):
    from idp.storage.models import ClientSecret

    with freeze_time("2026-03-01 10:00:00") as frozen:
        dev = signed_in(app, "dana")
        client_id, secret = create_app_via_portal(dev, **BOT)
        statements = []
        from sqlalchemy import event

        with app.app_context():
            engine = db.engine

        def count(conn, cursor, statement, *args):
            if statement.lstrip().upper().startswith("UPDATE CLIENT_SECRETS"):
                statements.append(statement)

        event.listen(engine, "before_cursor_execute", count)
        try:
            for _ in range(5):
                assert token_for(app, client_id, secret).status_code == 200
            assert len(statements) == 1
            frozen.tick(timedelta(seconds=61))
            assert token_for(app, client_id, secret).status_code == 200
            assert len(statements) == 2
        finally:
            event.remove(engine, "before_cursor_execute", count)
    with app.app_context():
        used = db.session.query(ClientSecret.last_used_at).scalar()
    assert used == datetime(2026, 3, 1, 10, 1, 1, tzinfo=UTC)
