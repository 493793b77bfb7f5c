"""Consent against in-memory fakes: remembered per user and app, widened only by what is new."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from idp.services import consent
from idp.services.context import Caller
from tests.unit.fakes import FakeUnitOfWork
from tests.unit.fakes_consent import FakeGrantRepository, app_policy

CALLER = Caller(ip="203.0.113.7", user_agent="pytest")
USER = SimpleNamespace(id=3)
APP = app_policy()


@pytest.fixture
def uow():
    return FakeUnitOfWork(grants=FakeGrantRepository())


def test_first_consent_creates_a_grant_and_audits_it(uow):
    grant = consent.record_consent(uow, CALLER, USER, APP, ("openid", "market:read"))
    assert (grant.user_id, grant.client_pk, grant.scopes) == (3, 7, "openid market:read")
    assert len(grant.gid) == 32
    [event] = uow.audit.events
    assert (event.event, event.user_id, event.client_id) == ("consent.granted", 3, "market-web")
    assert event.data == {"scopes": ["openid", "market:read"]}
    assert (event.ip, event.user_agent) == (CALLER.ip, CALLER.user_agent)


def test_widening_adds_only_the_new_scopes_and_audits_them_once(uow):
    first = consent.record_consent(uow, CALLER, USER, APP, ("openid",))
    widened = consent.record_consent(uow, CALLER, USER, APP, ("openid", "market:read"))
    again = consent.record_consent(uow, CALLER, USER, APP, ("market:read", "openid"))
    assert widened is first and again is first
    assert first.scopes == "openid market:read"
    assert first.updated_at is not None
    assert uow.audit.names() == ["consent.granted", "consent.widened"]
    assert uow.audit.events[1].data == {"scopes": ["market:read"]}


def test_granted_scopes_are_those_of_the_active_grant(uow):
    assert consent.granted_scopes(uow, USER.id, APP.pk) == (None, set())
    grant = consent.record_consent(uow, CALLER, USER, APP, ("openid", "profile"))
    assert consent.granted_scopes(uow, USER.id, APP.pk) == (grant, {"openid", "profile"})
    grant.revoked_at = "revoked"
    assert consent.granted_scopes(uow, USER.id, APP.pk) == (None, set())


def test_denial_is_audited_and_committed_without_a_grant(uow):
    consent.record_denial(uow, CALLER, USER, APP, ("openid", "market:read"))
    assert uow.grants.rows == []
    assert uow.audit.names() == ["consent.denied"]
    assert uow.audit.events[0].data == {"scopes": ["openid", "market:read"]}
    assert uow.commits == 1


def test_approve_issues_the_code_on_the_grant_and_commits_once(uow):
    issued = consent.approve(uow, CALLER, USER, APP, ("openid",), lambda g: ("code for", g.id))
    assert issued == ("code for", uow.grants.rows[0].id)
    assert uow.commits == 1


def test_approve_commits_nothing_when_the_code_cannot_be_issued(uow):
    def fail(grant):
        raise RuntimeError("no code")

    with pytest.raises(RuntimeError):
        consent.approve(uow, CALLER, USER, APP, ("openid",), fail)
    assert (uow.commits, uow.rollbacks) == (0, 1)
