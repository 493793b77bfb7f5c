"""Account use cases against in-memory fakes: no Flask, no database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from freezegun import freeze_time

from idp.errors import FieldErrors
from idp.services import accounts
from idp.services.context import Caller
from tests.unit.fakes import FakeHasher, FakeThrottle, FakeUnitOfWork

CALLER = Caller(ip="203.0.113.7", user_agent="pytest")
PW = "a fine long passphrase"


@pytest.fixture
def uow():
    return FakeUnitOfWork()


def make_user(uow, hasher=None):
    return accounts.register(
        uow, hasher or FakeHasher(), CALLER, username="Trader", email="T@Example.com", password=PW
    )


def test_register_normalises_keys(uow):
    user = make_user(uow)
    assert user.username_key == "trader" and user.email_key == "t@example.com"
    assert uow.audit.names() == ["account.registered"]


@pytest.mark.parametrize(
    ("username", "email", "password", "field"),
    [
        ("a", "a@example.com", PW, "username"),
        ("has space", "a@example.com", PW, "username"),
        ("okname", "not-an-email", PW, "email"),
        ("okname", "a@example.com", "short", "password"),
    ],
)
def test_register_rejects_with_field(uow, username, email, password, field):
    with pytest.raises(FieldErrors) as excinfo:
        accounts.register(
            uow, FakeHasher(), CALLER, username=username, email=email, password=password
        )
    assert excinfo.value.field == field
    assert uow.users.rows == {}


def test_checklist_20_unknown_account_does_the_same_work(uow):
    make_user(uow)
    hasher, throttle = FakeHasher(), FakeThrottle()
    for login in ("nobody", "trader"):
        with pytest.raises(FieldErrors, match="Incorrect username or password"):
            accounts.authenticate(
                uow, hasher, throttle, CALLER, login=login, password="wrong password"
            )
    assert hasher.verifications == 2
    assert throttle.failures == [("nobody", CALLER.ip), ("trader", CALLER.ip)]


def test_disabled_account_cannot_sign_in(uow):
    from datetime import UTC, datetime

    user = make_user(uow)
    user.disabled_at = datetime.now(UTC)
    with pytest.raises(FieldErrors):
        accounts.authenticate(
            uow, FakeHasher(), FakeThrottle(), CALLER, login="trader", password=PW
        )


def test_throttled_login_does_not_check_the_password(uow):
    make_user(uow)
    hasher, throttle = FakeHasher(), FakeThrottle()
    throttle.wait = 42
    with pytest.raises(accounts.LoginThrottled) as excinfo:
        accounts.authenticate(uow, hasher, throttle, CALLER, login="trader", password=PW)
    assert excinfo.value.retry_after == 42
    assert hasher.verifications == 0


def test_checklist_18_rehash_on_login(uow):
    user = make_user(uow, FakeHasher(version=1))
    accounts.authenticate(
        uow, FakeHasher(version=2), FakeThrottle(), CALLER, login="trader", password=PW
    )
    assert user.password_hash == f"v2:{PW}"


def test_checklist_21_sessions_expire_idle_and_absolute(uow):
    user = make_user(uow)
    policy = accounts.SessionPolicy(idle_ttl=60, absolute_ttl=300)
    with freeze_time("2026-01-01 00:00:00") as frozen:
        token = accounts.open_session(uow, CALLER, user, previous_token=None)
        for _ in range(5):  # active every 55 s: the idle timeout never fires
            frozen.tick(timedelta(seconds=55))
            assert accounts.resume_session(uow, policy, token) is not None
        frozen.tick(timedelta(seconds=30))  # 305 s after login: the absolute timeout fires
        assert accounts.resume_session(uow, policy, token) is None
        token = accounts.open_session(uow, CALLER, user, previous_token=None)
        frozen.tick(timedelta(seconds=61))
        assert accounts.resume_session(uow, policy, token) is None


def test_checklist_21_open_session_replaces_previous(uow):
    user = make_user(uow)
    first = accounts.open_session(uow, CALLER, user, previous_token=None)
    second = accounts.open_session(uow, CALLER, user, previous_token=first)
    assert first != second
    assert list(uow.sessions.rows) == [accounts.session_digest(second)]
