"""Issue 12 item 15: the members form invites; the invitee accepts or declines; the inviter's
answer is the same whether or not the username exists (no account enumeration, ASVS 6.3.8)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from idp.extensions import db
from idp.storage.models import AuditEvent, ClientMember
from tests.conftest import AuthActions, csrf_token
from tests.portal.test_developer_fixtures import create_app_via_portal, register_user, signed_in

INVITATION_RE = re.compile(r'action="(/developers/invitations/(\d+)/(accept|decline))"')


@pytest.fixture
def dev(app):
    return signed_in(app, "dana")


def _invite(browser, client_id: str, username: str, role: str = "developer"):
    token = csrf_token(browser, "/developers/apps/new")  # one token per session
    return browser.post(
        f"/developers/apps/{client_id}/members",
        data={"csrf_token": token, "username": username, "role": role},
    )


def _answer(browser, response) -> str:
    """The flashed answer on the page the form redirects to."""
    assert response.status_code == 303
    page = browser.get(response.headers["Location"]).get_data(as_text=True)
    return re.search(r'<p class="flash[^"]*"[^>]*>(.*?)</p>', page, re.S).group(1).strip()


def _members(app) -> list[int]:
    with app.app_context():
        return list(db.session.scalars(select(ClientMember.user_id)))


def _events(app, kind: str) -> list[AuditEvent]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent).where(AuditEvent.event == kind)))


def _as(app, username: str):
    browser = app.test_client()
    assert AuthActions(browser).login(login=username).status_code == 303
    return browser


def _invitation(browser, action: str) -> str:
    page = browser.get("/developers").get_data(as_text=True)
    found = [m.group(1) for m in INVITATION_RE.finditer(page) if m.group(3) == action]
    assert found, page
    return found[0]


def test_asvs_6_3_8_same_answer_whether_or_not_the_username_exists(app, dev):
    client_id, _ = create_app_via_portal(dev)
    register_user(app, "mia")
    unknown = _answer(dev, _invite(dev, client_id, "nobody"))
    known = _answer(dev, _invite(dev, client_id, "mia"))
    assert unknown == known
    assert _members(app) == []  # membership only on acceptance
    members_page = dev.get(f"/developers/apps/{client_id}/members").get_data(as_text=True)
    assert "mia" not in members_page and "nobody" not in members_page
    assert len(_events(app, "client.member_invited")) == 2


def test_invitee_accepts_and_becomes_a_member(app, dev):
    client_id, _ = create_app_via_portal(dev)
    register_user(app, "mia")
    _invite(dev, client_id, "mia")
    mia = _as(app, "mia")
    assert mia.get(f"/developers/apps/{client_id}").status_code == 404  # not yet a member
    page = mia.get("/developers").get_data(as_text=True)
    assert "Trade Helper" in page and "dana" in page  # the app and who invited
    token = csrf_token(mia, "/developers")
    assert mia.post(_invitation(mia, "accept"), data={"csrf_token": token}).status_code == 303
    assert mia.get(f"/developers/apps/{client_id}/edit").status_code == 200
    assert len(_members(app)) == 1
    assert len(_events(app, "client.invitation_accepted")) == 1
    assert not INVITATION_RE.search(mia.get("/developers").get_data(as_text=True))


def test_invitee_declines_and_nothing_changes(app, dev):
    client_id, _ = create_app_via_portal(dev)
    register_user(app, "mia")
    _invite(dev, client_id, "mia")
    mia = _as(app, "mia")
    token = csrf_token(mia, "/developers")
    assert mia.post(_invitation(mia, "decline"), data={"csrf_token": token}).status_code == 303
    assert _members(app) == [] and mia.get(f"/developers/apps/{client_id}").status_code == 404
    assert len(_events(app, "client.invitation_declined")) == 1
    assert not INVITATION_RE.search(mia.get("/developers").get_data(as_text=True))


def test_an_invitation_is_only_for_its_invitee(app, dev):
    client_id, _ = create_app_via_portal(dev)
    register_user(app, "mia")
    _invite(dev, client_id, "mia")
    accept = _invitation(_as(app, "mia"), "accept")
    eve = signed_in(app, "eve")
    token = csrf_token(eve, "/developers/apps/new")
    assert eve.post(accept, data={"csrf_token": token}).status_code == 404
    assert dev.post(accept, data={"csrf_token": token}).status_code in (400, 404)
    assert _members(app) == []


def test_only_an_owner_invites(app, dev):
    client_id, _ = create_app_via_portal(dev)
    register_user(app, "mia")
    register_user(app, "leo")
    _invite(dev, client_id, "mia")
    mia = _as(app, "mia")
    mia.post(_invitation(mia, "accept"), data={"csrf_token": csrf_token(mia, "/developers")})
    assert _invite(mia, client_id, "leo").status_code == 403
    leo = _as(app, "leo")
    assert not INVITATION_RE.search(leo.get("/developers").get_data(as_text=True))


def test_invitation_needs_a_csrf_token(app, dev):
    client_id, _ = create_app_via_portal(dev)
    register_user(app, "mia")
    _invite(dev, client_id, "mia")
    mia = _as(app, "mia")
    assert mia.post(_invitation(mia, "accept"), data={}).status_code == 400
    assert _members(app) == []
