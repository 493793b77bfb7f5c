"""Signed-in browsers, re-authentication and the disabled-account message, against fakes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from idp.errors import FieldErrors
from idp.services import accounts, login_sessions
from tests.unit.fakes import FakeHasher, FakeThrottle, FakeUnitOfWork
from tests.unit.test_accounts_service import CALLER, PW, make_user

CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"


@pytest.fixture
def uow():
    return FakeUnitOfWork()


def _session(uow, user, digest, agent, seen_minutes_ago):
    at = datetime(2026, 1, 1, 12, tzinfo=UTC) - timedelta(minutes=seen_minutes_ago)
    uow.sessions.create(
        id_digest=digest, user_id=user.id, created_at=at - timedelta(hours=1),
        last_seen_at=at, ip="198.51.100.4", user_agent=agent,
    )  # fmt: skip


def test_devices_list_this_browser_first_then_most_recent(uow):
    user = make_user(uow)
    _session(uow, user, "d-old", FIREFOX, 90)
    _session(uow, user, "d-me", CHROME, 30)
    _session(uow, user, "d-new", FIREFOX, 1)
    devices = login_sessions.signed_in_devices(uow, user.id, "d-me")
    assert [(d.device, d.current) for d in devices] == [
        ("Chrome on Linux", True), ("Firefox on Windows", False), ("Firefox on Windows", False)
    ]  # fmt: skip
    assert devices[1].last_seen > devices[2].last_seen
    assert all(d.handle != "d-me" and len(d.handle) == 32 for d in devices)


def test_sign_out_one_other_device_is_audited_and_the_current_one_is_refused(uow):
    user = make_user(uow)
    _session(uow, user, "d-me", CHROME, 0)
    _session(uow, user, "d-other", FIREFOX, 5)
    other = login_sessions.handle_of("d-other")
    assert login_sessions.sign_out_device(uow, CALLER, user.id, other, "d-me") == (
        "Firefox on Windows"
    )
    assert set(uow.sessions.rows) == {"d-me"}
    assert uow.audit.names()[-1] == "session.signed_out"
    with pytest.raises(FieldErrors, match="use Sign out"):
        login_sessions.sign_out_device(
            uow, CALLER, user.id, login_sessions.handle_of("d-me"), "d-me"
        )
    with pytest.raises(login_sessions.UnknownSession):
        login_sessions.sign_out_device(uow, CALLER, user.id, other, "d-me")


def test_a_handle_of_another_users_session_is_unknown(uow):
    user = make_user(uow)
    other = uow.users.create(username="eve", username_key="eve", email="e@x.io", email_key="e@x.io")
    _session(uow, other, "d-eve", CHROME, 0)
    with pytest.raises(login_sessions.UnknownSession):
        login_sessions.sign_out_device(
            uow, CALLER, user.id, login_sessions.handle_of("d-eve"), "d-me"
        )
    assert "d-eve" in uow.sessions.rows


def test_sign_out_others_keeps_this_browser(uow):
    user = make_user(uow)
    for digest in ("d-me", "d-a", "d-b"):
        _session(uow, user, digest, CHROME, 0)
    assert login_sessions.sign_out_other_devices(uow, CALLER, user.id, "d-me") == 2
    assert set(uow.sessions.rows) == {"d-me"}
    assert uow.audit.events[-1].data == {"count": 2}


def test_disabled_account_is_told_only_after_the_right_password(uow):
    user = make_user(uow)
    user.disabled_at = datetime.now(UTC)
    hasher, throttle = FakeHasher(), FakeThrottle()
    with pytest.raises(FieldErrors, match="Incorrect username or password"):
        accounts.authenticate(uow, hasher, throttle, CALLER, login="trader", password="wrong!")
    with pytest.raises(accounts.AccountDisabled, match="This account is disabled"):
        accounts.authenticate(uow, hasher, throttle, CALLER, login="trader", password=PW)
    assert throttle.failures == [("trader", CALLER.ip)]  # the right password is no failure
    assert uow.audit.names()[-1] == "login.refused_disabled"
