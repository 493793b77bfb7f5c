"""/account/sessions through the real pages: every signed-in browser, signing them out."""

from __future__ import annotations

import re

from freezegun import freeze_time
from sqlalchemy import func, select

from idp.extensions import db
from idp.storage.models import AuditEvent, LoginSession
from tests.conftest import AuthActions, csrf_token

FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
SIGN_OUT_RE = re.compile(r'action="(/account/sessions/[0-9a-f]{32}/sign-out)"')


def browser(app, agent: str, ip: str):
    client = app.test_client()
    client.environ_base.update(HTTP_USER_AGENT=agent, REMOTE_ADDR=ip)
    assert AuthActions(client).login().status_code == 303
    return client


def session_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(LoginSession))


def events(app, name: str) -> list[AuditEvent]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent).where(AuditEvent.event == name)))


def test_sessions_page_lists_each_browser_in_words_with_ip_and_times(app, user):
    with freeze_time("2026-03-01 09:00:00"):
        browser(app, FIREFOX, "198.51.100.7")
    with freeze_time("2026-03-01 10:30:00"):
        me = browser(app, CHROME, "203.0.113.9")
        html = me.get("/account/sessions").get_data(as_text=True)
        assert 'href="/account/sessions"' in me.get("/account").get_data(as_text=True)
    assert "Chrome on Linux" in html and "This browser" in html
    assert "Firefox on Windows" in html and "198.51.100.7" in html and "203.0.113.9" in html
    assert "2026-03-01 09:00 UTC" in html and "2026-03-01 10:30 UTC" in html
    assert len(SIGN_OUT_RE.findall(html)) == 1  # none for this browser


def test_last_seen_moves_at_most_once_a_minute(app, user):
    with freeze_time("2026-03-01 10:00:00") as frozen:
        me = browser(app, CHROME, "203.0.113.9")
        frozen.tick(30)
        me.get("/account")
        with app.app_context():
            assert db.session.scalar(select(LoginSession.last_seen_at)).minute == 0
        frozen.tick(40)
        me.get("/account")
        with app.app_context():
            seen = db.session.scalar(select(LoginSession.last_seen_at))
    assert (seen.minute, seen.second) == (1, 10)


def test_sign_out_one_browser_ends_only_that_session_and_is_audited(app, user):
    other = browser(app, FIREFOX, "198.51.100.7")
    me = browser(app, CHROME, "203.0.113.9")
    (action,) = SIGN_OUT_RE.findall(me.get("/account/sessions").get_data(as_text=True))
    response = me.post(action, data={"csrf_token": csrf_token(me, "/account/sessions")})
    assert response.status_code == 303
    assert "Firefox on Windows was signed out." in me.get("/account/sessions").get_data(
        as_text=True
    )
    assert other.get("/account").status_code == 303  # back to the login page
    assert me.get("/account").status_code == 200
    (event,) = events(app, "session.signed_out")
    assert event.data["device"] == "Firefox on Windows"


def test_sign_out_every_other_browser(app, user):
    others = [browser(app, FIREFOX, f"198.51.100.{n}") for n in (1, 2)]
    me = browser(app, CHROME, "203.0.113.9")
    token = csrf_token(me, "/account/sessions")
    response = me.post("/account/sessions/sign-out-others", data={"csrf_token": token})
    assert response.status_code == 303
    assert "Signed out 2 other browsers." in me.get("/account/sessions").get_data(as_text=True)
    assert session_count(app) == 1
    assert all(o.get("/account").status_code == 303 for o in others)
    assert events(app, "session.signed_out_others")[0].data == {"count": 2}


def test_sign_out_without_csrf_or_with_an_unknown_handle_changes_nothing(app, user):
    browser(app, FIREFOX, "198.51.100.7")
    me = browser(app, CHROME, "203.0.113.9")
    (action,) = SIGN_OUT_RE.findall(me.get("/account/sessions").get_data(as_text=True))
    assert me.post(action).status_code == 400
    assert me.post("/account/sessions/sign-out-others").status_code == 400
    token = csrf_token(me, "/account/sessions")
    assert (
        me.post(
            "/account/sessions/" + "0" * 32 + "/sign-out", data={"csrf_token": token}
        ).status_code
        == 404
    )
    assert session_count(app) == 2


def test_sessions_page_needs_sign_in(client):
    response = client.get("/account/sessions")
    assert response.status_code == 303 and "/login" in response.headers["Location"]
