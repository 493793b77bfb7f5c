"""Invitations to an app against fakes (issue 12 item 15; ASVS 6.3.8: no account enumeration)."""

from __future__ import annotations

import pytest

from idp.domain.clock import utcnow
from idp.errors import FieldErrors
from idp.services import app_members, apps
from tests.unit.fakes_apps import add_user, apps_unit_of_work
from tests.unit.test_apps_service import CALLER, create


@pytest.fixture
def uow():
    return apps_unit_of_work()


@pytest.fixture
def setting(uow):
    owner = add_user(uow, "owner")
    client, _ = create(uow, owner)
    return owner, client, apps.app_for_user(uow, owner.id, client.client_id)


def _invited(uow) -> list[bool]:
    return [e.data["invited"] for e in uow.audit.events if e.event == "client.member_invited"]


def test_asvs_6_3_8_the_same_answer_for_every_username(uow, setting):
    owner, client, found = setting
    add_user(uow, "mia")
    gone = add_user(uow, "gone")
    gone.disabled_at = utcnow()
    answers = {
        app_members.invite(uow, CALLER, found, owner.id, name, "developer")
        for name in ("mia", "nobody", "gone", "owner", "mia")  # "mia" twice: one invitation
    }
    assert answers == {app_members.INVITED}
    assert len(uow.invitations.rows) == 1
    assert _invited(uow) == [True, False, False, False, False]
    assert app_members.members(uow, client) == [(owner, "owner")]


def test_declining_leaves_no_trace_but_the_audit(uow, setting):
    owner, client, found = setting
    mia = add_user(uow, "mia")
    app_members.invite(uow, CALLER, found, owner.id, "mia", "owner")
    [invitation] = app_members.invitations_for(uow, mia.id)
    assert (invitation.app_name, invitation.role) == (client.name, "owner")
    app_members.answer(uow, CALLER, mia.id, invitation.id, accept=False)
    assert uow.invitations.rows == [] and uow.members.rows == []
    assert "client.invitation_declined" in uow.audit.names()


def test_only_the_invitee_answers(uow, setting):
    owner, _client, found = setting
    mia, eve = add_user(uow, "mia"), add_user(uow, "eve")
    app_members.invite(uow, CALLER, found, owner.id, "mia", "developer")
    [invitation] = app_members.invitations_for(uow, mia.id)
    for someone in (eve, owner):
        with pytest.raises(FieldErrors, match="no such invitation"):
            app_members.answer(uow, CALLER, someone.id, invitation.id, accept=True)
    assert uow.members.rows == []


def test_refusals_that_reveal_nothing_about_accounts(uow, setting):
    owner, _client, found = setting
    with pytest.raises(FieldErrors, match="not an email"):
        app_members.invite(uow, CALLER, found, owner.id, "mia@example.com", "developer")
    with pytest.raises(FieldErrors, match="Choose a role"):
        app_members.invite(uow, CALLER, found, owner.id, "mia", "admin")
