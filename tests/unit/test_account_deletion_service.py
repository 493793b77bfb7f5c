"""Deleting an account, against fakes: what goes, what stays, and under which name."""

from __future__ import annotations

import pytest

from idp.errors import FieldErrors
from idp.services import account_data, audit, users_admin
from idp.services.context import Caller
from idp.services.revocation import RevocationWindow
from tests.unit.fakes_apps import add_user, apps_unit_of_work

CALLER = Caller(ip="203.0.113.7", user_agent="pytest")
WINDOW = RevocationWindow(600)
KEY = b"k" * 32


@pytest.fixture
def world():
    uow = apps_unit_of_work()
    user, heir, other = add_user(uow, "leaver"), add_user(uow, "heir"), add_user(uow, "other")
    user.email = "leaver@example.com"
    for u in (user, heir, other):
        u.password_hash = "v1:pw"
    kept = uow.clients.create(client_id="kept", name="Kept", owner_id=user.id)
    gone = uow.clients.create(client_id="gone", name="Gone", owner_id=user.id)
    joined = uow.clients.create(client_id="joined", name="Joined", owner_id=other.id)
    uow.members.create(client_pk=kept.id, user_id=heir.id, role="owner")
    uow.members.create(client_pk=joined.id, user_id=user.id, role="developer")
    uow.grants.add(joined.id, user.id, "g-mine")
    uow.grants.add(gone.id, other.id, "g-of-gone")
    audit.record(uow, "login.failed", CALLER, user_id=user.id, login="leaver")
    audit.record(uow, "admin.user_enabled", CALLER, user_id=other.id, target_user_id=user.id,
                 target_username="leaver")  # fmt: skip
    return uow, user, heir, kept, gone


def test_fates_are_known_before_and_done_by_the_deletion(world):
    uow, user, heir, kept, gone = world
    fates = account_data.fate_of_apps(uow, user)
    assert [(f.name, f.new_owner) for f in fates] == [("Kept", "heir"), ("Gone", None)]
    result = account_data.delete_account(uow, WINDOW, CALLER, user, pseudonym_key=KEY)
    assert result.grants_revoked == 1 and result.apps == fates
    assert kept.owner_id == heir.id and uow.members.role(kept.id, heir.id) is None
    assert uow.clients.get(gone.id) is None
    assert ("grant", "g-mine") in uow.revocations.entries
    assert ("grant", "g-of-gone") in uow.revocations.entries  # the deleted app's users too
    assert uow.members.rows == []  # left "Joined" too


def test_personal_data_is_erased_and_the_audit_log_keeps_a_pseudonym(world):
    uow, user, *_ = world
    uid = user.id
    result = account_data.delete_account(uow, WINDOW, CALLER, user, pseudonym_key=KEY)
    assert result.pseudonym == account_data.pseudonym(KEY, uid)
    assert result.pseudonym != account_data.pseudonym(b"another key" * 3, uid)
    assert user.username.startswith("deleted-") and user.username_key == user.username
    assert user.email.endswith("@deleted.invalid") and user.password_hash == ""
    assert user.disabled_at is not None and user.deleted_at is not None
    failed, enabled, *_, deleted = uow.audit.events
    assert (failed.user_id, failed.ip, failed.data) == (None, "", {"pseudonym": result.pseudonym})
    assert enabled.data == {"target_pseudonym": result.pseudonym}
    assert deleted.event == "account.deleted" and deleted.user_id is None and deleted.ip == ""
    assert deleted.data["apps_deleted"] == 1 and deleted.data["apps_transferred"] == 1


def test_an_admin_account_is_not_deleted(world):
    uow, user, *_ = world
    user.is_admin = True
    with pytest.raises(FieldErrors, match="administrator"):
        account_data.delete_account(uow, WINDOW, CALLER, user, pseudonym_key=KEY)
    assert user.username == "leaver" and uow.revocations.entries == []


def test_an_admin_cannot_enable_a_deleted_account(world):
    uow, user, heir, *_ = world
    account_data.delete_account(uow, WINDOW, CALLER, user, pseudonym_key=KEY)
    with pytest.raises(FieldErrors, match="deleted by its user"):
        users_admin.enable_user(uow, CALLER, heir, user)
    assert user.disabled_at is not None
