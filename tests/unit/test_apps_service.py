"""App management's use cases against in-memory fakes: no Flask, no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from idp.config import PROJECT_ROOT
from idp.domain.clock import utcnow
from idp.domain.credentials import digest_secret
from idp.domain.scopes import load_catalogue
from idp.errors import FieldErrors
from idp.services import access_requests, app_admin, app_members, apps
from idp.services.app_specs import ClientSpec
from idp.services.context import Caller
from idp.services.revocation import RevocationWindow
from tests.unit.fakes_apps import add_user, apps_unit_of_work

CALLER = Caller(ip="203.0.113.7", user_agent="pytest")
CATALOGUE = load_catalogue(PROJECT_ROOT / "scopes.yaml")
WHY = "The app places orders its users configured in advance."
NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


@pytest.fixture
def uow():
    return apps_unit_of_work()


@pytest.fixture
def owner(uow):
    return add_user(uow, "owner")


def web_spec(**changes) -> ClientSpec:
    fields = dict(
        name="Market Web",
        app_type="web",
        redirect_uris=["https://market.example/cb"],
        scopes=["openid", "orders:read"],
    )
    return ClientSpec(**{**fields, **changes})


def create(uow, owner, spec=None, **kwargs):
    client, secret = apps.create_client(
        uow, CATALOGUE, CALLER, spec or web_spec(), owner_id=owner.id, **kwargs
    )
    uow.commits = 0
    uow.audit.events.clear()
    return client, secret


def test_create_stores_the_app_with_a_digest_of_its_secret_in_one_commit(uow, owner):
    client, secret = apps.create_client(uow, CATALOGUE, CALLER, web_spec(), owner_id=owner.id)
    assert uow.clients.by_client_id(client.client_id) is client
    assert [s.digest for s in client.secrets] == [digest_secret(secret)]
    assert client.grant_types and client.tier == CATALOGUE.default_tier
    assert uow.commits == 1
    assert uow.audit.names() == ["client.created"]


def test_create_validates_the_spec_once_and_saves_nothing_when_it_fails(uow, owner, monkeypatch):
    calls = []
    real = apps.validate_spec
    monkeypatch.setattr(apps, "validate_spec", lambda *a, **k: calls.append(1) or real(*a, **k))
    bad = web_spec(name="", redirect_uris=["http://evil.example/cb"], scopes=["orders:write"])
    with pytest.raises(FieldErrors) as raised:
        apps.create_client(uow, CATALOGUE, CALLER, bad, owner_id=owner.id)
    assert set(raised.value.errors) == {"name", "redirect_uris", "scopes"}
    assert len(calls) == 1
    assert uow.clients.all() == [] and uow.commits == 0


def test_create_files_the_restricted_scope_request_in_the_same_commit(uow, owner):
    wanted = apps.ScopeRequest(["orders:write"], WHY)
    client, _ = apps.create_client(
        uow, CATALOGUE, CALLER, web_spec(), owner_id=owner.id, scope_request=wanted
    )
    [row] = uow.access_requests.for_client(client.id)
    assert (row.kind, row.scopes, row.status, row.requested_by) == (
        "scopes", ["orders:write"], "pending", owner.id,
    )  # fmt: skip
    assert "orders:write" not in client.allowed_scopes
    assert uow.commits == 1
    assert uow.audit.names() == ["client.created", "access_request.created"]


def test_a_bad_scope_request_keeps_the_app_from_being_created(uow, owner):
    wanted = apps.ScopeRequest(["orders:write"], "short")
    with pytest.raises(FieldErrors) as raised:
        apps.create_client(
            uow, CATALOGUE, CALLER, web_spec(), owner_id=owner.id, scope_request=wanted
        )
    assert list(raised.value.errors) == ["justification"]
    assert uow.clients.all() == [] and uow.access_requests.rows == {} and uow.commits == 0


def test_update_renames_and_audits_only_the_changed_fields(uow, owner):
    client, _ = create(uow, owner)
    apps.update_app(uow, CATALOGUE, CALLER, client, owner.id, name="  Market  ", tos_url="")
    assert client.name == "Market"
    assert uow.commits == 1
    assert uow.audit.events[0].data["fields"] == ["name"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [({"app_type": "spa"}, "app_type"), ({"scopes": ["openid", "chat:read"]}, "scopes")],
)
def test_update_refuses_a_fixed_field_or_a_new_restricted_scope(uow, owner, changes, field):
    client, _ = create(uow, owner)
    with pytest.raises(FieldErrors) as raised:
        apps.update_app(uow, CATALOGUE, CALLER, client, owner.id, **changes)
    assert raised.value.field == field
    assert client.name == "Market Web" and "chat:read" not in client.allowed_scopes
    assert uow.commits == 0


def test_rotation_keeps_the_old_secret_working_for_the_grace_period(uow, owner):
    client, old = create(uow, owner)
    new = apps.rotate_secret(uow, CALLER, client, 3600, now=NOW)
    by_digest = {s.digest: s for s in client.secrets}
    assert by_digest[digest_secret(old)].expires_at == NOW + timedelta(hours=1)
    assert by_digest[digest_secret(new)].expires_at is None
    assert uow.commits == 1


def test_revoking_old_secrets_keeps_only_the_newest(uow, owner):
    client, _ = create(uow, owner)
    new = apps.rotate_secret(uow, CALLER, client, 3600, now=utcnow() + timedelta(seconds=1))
    apps.revoke_old_secrets(uow, CALLER, client)
    assert [s.digest for s in client.secrets] == [digest_secret(new)]


def test_a_public_app_has_no_secret_to_rotate(uow, owner):
    spa = web_spec(app_type="spa", redirect_uris=["https://spa.example/cb"])
    client, secret = create(uow, owner, spa)
    assert secret is None
    with pytest.raises(FieldErrors) as raised:
        apps.rotate_secret(uow, CALLER, client, 0)
    assert raised.value.field == "secret" and client.secrets == []


def test_delete_revokes_every_grant_and_tells_the_feed(uow, owner):
    client, _ = create(uow, owner)
    grant = uow.grants.add(client.id, owner.id, "gid-1")
    apps.delete_client(uow, RevocationWindow(3600), CALLER, client)
    assert grant.revoked_at is not None
    assert uow.refresh_tokens.revoked_grants == [grant.id]
    assert ("grant", "gid-1") in uow.revocations.entries
    assert ("client_suspended", client.client_id) in uow.revocations.entries
    assert uow.clients.all() == [] and uow.commits == 1


def test_members_see_the_app_and_only_an_owner_changes_them(uow, owner):
    """Issue 12 item 15: an owner invites, the invitee's acceptance makes the member."""
    client, _ = create(uow, owner)
    dev, other = add_user(uow, "dev"), add_user(uow, "other")
    found = apps.app_for_user(uow, owner.id, client.client_id)
    app_members.invite(uow, CALLER, found, owner.id, "dev", "developer")
    assert apps.app_for_user(uow, dev.id, client.client_id) is None  # not before accepting
    [invitation] = app_members.invitations_for(uow, dev.id)
    app_members.answer(uow, CALLER, dev.id, invitation.id, accept=True)
    as_dev = apps.app_for_user(uow, dev.id, client.client_id)
    assert as_dev.role == "developer" and not as_dev.is_owner
    assert apps.app_for_user(uow, other.id, client.client_id) is None
    with pytest.raises(FieldErrors):
        app_members.invite(uow, CALLER, as_dev, dev.id, "other", "developer")
    assert [(u.username, r) for u, r in app_members.members(uow, client)] == [
        ("owner", "owner"), ("dev", "developer"),
    ]  # fmt: skip
    app_members.remove_member(uow, CALLER, found, owner.id, dev.id)
    assert apps.apps_for_user(uow, dev.id) == []


def test_suspend_and_unsuspend_by_an_admin(uow, owner):
    client, _ = create(uow, owner)
    with pytest.raises(FieldErrors, match="reason of 3 to 500"):
        app_admin.suspend(uow, CALLER, 99, client, " x ")
    app_admin.suspend(uow, CALLER, 99, client, "abuse report")
    assert client.suspended_at is not None and client.suspended_reason == "abuse report"
    assert uow.refresh_tokens.revoked_clients == [client.id]
    with pytest.raises(FieldErrors, match="already suspended"):
        app_admin.suspend(uow, CALLER, 99, client, "again")
    app_admin.unsuspend(uow, CALLER, 99, client, RevocationWindow(900))
    assert client.suspended_at is None
    # Issue 12 item 8: unsuspending cuts off the tokens issued before it.
    kinds = [k for k, _ in uow.revocations.entries]
    assert kinds == ["client_suspended", "client_restored", "client_cutoff"]
    assert uow.audit.names() == ["client.suspended", "client.unsuspended"]


def test_approving_a_scope_request_grants_the_scopes(uow, owner):
    client, _ = create(uow, owner)
    row = access_requests.request_scopes(
        uow, CATALOGUE, CALLER, client, owner.id, ["orders:write"], WHY
    )
    with pytest.raises(FieldErrors, match="already waiting"):
        access_requests.request_scopes(
            uow, CATALOGUE, CALLER, client, owner.id, ["orders:write"], WHY
        )
    access_requests.approve(uow, CALLER, 99, row.id, catalogue=CATALOGUE)
    assert "orders:write" in client.allowed_scopes
    assert (row.status, row.decided_by) == ("approved", 99)
    with pytest.raises(FieldErrors, match="already approved"):
        access_requests.deny(uow, CALLER, 99, row.id, "changed my mind")


def test_a_denial_needs_a_reason_and_changes_nothing(uow, owner):
    client, _ = create(uow, owner)
    row = access_requests.request_tier(uow, CATALOGUE, CALLER, client, owner.id, "partner", WHY)
    with pytest.raises(FieldErrors) as raised:
        access_requests.deny(uow, CALLER, 99, row.id, "  ")
    assert raised.value.field == "reason" and row.status == "pending"
    access_requests.deny(uow, CALLER, 99, row.id, "Not yet: show us your traffic first.")
    assert row.status == "denied" and client.tier == CATALOGUE.default_tier
