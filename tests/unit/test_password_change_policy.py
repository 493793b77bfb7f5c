"""Changing a password: a wrong current password is a throttled, audited guess (issue 12 item
14; docs/security.md#20)."""

from __future__ import annotations

import pytest

from idp.errors import FieldErrors
from idp.services import accounts
from idp.services.context import Caller
from tests.unit.fakes import FakeHasher, FakeThrottle, FakeUnitOfWork

CALLER = Caller(ip="203.0.113.7", user_agent="pytest")
PW = "a fine long passphrase"
NEW = "another fine passphrase"


def _user(uow, hasher):
    return accounts.register(
        uow, hasher, CALLER, username="Trader", email="t@example.com", password=PW
    )


def _change(uow, hasher, throttle, user, current):
    accounts.change_password(
        uow, hasher, throttle, CALLER, user, current=current, new=NEW, keep_session="x"
    )


def test_checklist_20_wrong_current_password_counts_as_a_failure():
    uow, hasher, throttle = FakeUnitOfWork(), FakeHasher(), FakeThrottle()
    user = _user(uow, hasher)
    with pytest.raises(FieldErrors):
        _change(uow, hasher, throttle, user, "not it at all")
    assert throttle.failures == [("Trader", CALLER.ip)]
    assert "password.change_failed" in uow.audit.names()


def test_checklist_20_throttled_password_change_does_not_check_the_password():
    uow, hasher, throttle = FakeUnitOfWork(), FakeHasher(), FakeThrottle()
    user = _user(uow, hasher)
    throttle.wait, before = 30, hasher.verifications
    with pytest.raises(accounts.LoginThrottled) as excinfo:
        _change(uow, hasher, throttle, user, PW)
    assert excinfo.value.retry_after == 30 and hasher.verifications == before
    assert "password.change_throttled" in uow.audit.names()
