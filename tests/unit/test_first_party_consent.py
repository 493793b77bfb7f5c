"""Consent for first-party apps: recorded as implied and audited so; never for third parties."""

from __future__ import annotations

from types import SimpleNamespace

from idp.services import consent
from idp.services.context import Caller
from tests.unit.fakes import FakeUnitOfWork
from tests.unit.fakes_consent import FakeGrantRepository, app_policy

USER = SimpleNamespace(id=1)


def test_an_implied_grant_is_marked_and_audited_as_implied():
    uow = FakeUnitOfWork(grants=FakeGrantRepository())
    bot = app_policy(first_party=True)
    grant = consent.approve(uow, Caller(), USER, bot, ("openid",), lambda g: g, implied=True)
    assert grant.implied is True and uow.audit.names() == ["consent.implied"]
    widened = consent.record_consent(uow, Caller(), USER, bot, ("openid", "profile"), True)
    assert widened is grant and uow.audit.names()[-1] == "consent.implied"


def test_an_asked_grant_is_not_implied():
    uow = FakeUnitOfWork(grants=FakeGrantRepository())
    grant = consent.approve(uow, Caller(), USER, app_policy(), ("openid",), lambda g: g)
    assert grant.implied is False and uow.audit.names() == ["consent.granted"]
