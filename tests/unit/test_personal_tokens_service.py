"""Personal access tokens against fakes: shown once, stored hashed, scoped, expiring, revocable."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from freezegun import freeze_time

from idp.domain.clock import utcnow
from idp.domain.credentials import digest_secret
from idp.errors import FieldErrors
from idp.services import access_requests, personal_tokens
from idp.services.context import Caller
from tests.unit.fakes import FakeUnitOfWork
from tests.unit.fakes_apps import add_user, apps_unit_of_work
from tests.unit.test_apps_service import create

CALLER = Caller(ip="203.0.113.9", user_agent="pytest")


class FakePersonalTokenRepository:
    def __init__(self) -> None:
        self.rows: list[SimpleNamespace] = []

    def create(self, **fields):
        row = SimpleNamespace(id=len(self.rows) + 1, last_used_at=None, revoked_at=None, **fields)
        self.rows.append(row)
        return row

    def by_public_id(self, public_id):
        return next((r for r in self.rows if r.public_id == public_id), None)

    def for_user(self, user_id):
        return [r for r in reversed(self.rows) if r.user_id == user_id]


@pytest.fixture
def uow():
    work = FakeUnitOfWork(personal_tokens=FakePersonalTokenRepository())
    return work


@pytest.fixture
def dev(uow):
    return add_user(uow, "dev")


def test_checklist_31_token_is_shown_once_and_only_its_hash_is_stored(uow, dev):
    row, token = personal_tokens.create(uow, CALLER, dev.id, " deploy ", ["apps:read"], 30)
    assert token.startswith(f"tsr_pat_{row.public_id}_")
    secret = token.removeprefix(f"tsr_pat_{row.public_id}_")
    assert row.secret_digest == digest_secret(secret)
    assert secret not in repr(vars(row)) and token not in repr(uow.audit.events)
    assert (row.name, row.scopes) == ("deploy", ["apps:read"])
    assert row.expires_at - row.created_at == timedelta(days=30)
    assert uow.audit.names() == ["personal_token.created"] and uow.commits == 1


def test_two_tokens_never_share_an_id_or_secret(uow, dev):
    made = [personal_tokens.create(uow, CALLER, dev.id, "t", ["apps:read"], 7) for _ in range(5)]
    assert len({row.public_id for row, _ in made}) == len({tok for _, tok in made}) == 5


@pytest.mark.parametrize(
    ("name", "scopes", "days", "field"),
    [
        ("", ["apps:read"], 30, "name"),
        ("x" * 65, ["apps:read"], 30, "name"),
        ("ok", [], 30, "scopes"),
        ("ok", ["openid"], 30, "scopes"),
        ("ok", ["apps:read"], 0, "expires_in_days"),
        ("ok", ["apps:read"], 3650, "expires_in_days"),  # no token that works for ever
    ],
)
def test_invalid_requests_are_refused_by_field(uow, dev, name, scopes, days, field):
    with pytest.raises(FieldErrors) as refused:
        personal_tokens.create(uow, CALLER, dev.id, name, scopes, days)
    assert field in refused.value.errors
    assert uow.personal_tokens.rows == [] and uow.audit.events == []


def test_active_tokens_are_bounded_per_developer(uow, dev):
    for _ in range(personal_tokens.MAX_ACTIVE):
        personal_tokens.create(uow, CALLER, dev.id, "t", ["apps:read"], 7)
    with pytest.raises(FieldErrors):
        personal_tokens.create(uow, CALLER, dev.id, "one too many", ["apps:read"], 7)
    personal_tokens.revoke(uow, CALLER, dev.id, uow.personal_tokens.rows[0].public_id)
    personal_tokens.create(uow, CALLER, dev.id, "room again", ["apps:read"], 7)


def test_a_valid_token_authenticates_its_owner_with_its_scopes(uow, dev):
    _, token = personal_tokens.create(uow, CALLER, dev.id, "ci", ["apps:manage"], 7)
    bearer = personal_tokens.authenticate(uow, token)
    assert bearer.user is dev and bearer.scopes == {"apps:manage"}
    assert personal_tokens.allows(bearer.scopes, "apps:read")
    assert not personal_tokens.allows(frozenset({"apps:read"}), "apps:manage")


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # wrong secret
        lambda t: t.replace("tsr_pat_", "tsr_pat_0"),  # wrong id length
        lambda t: "tsr_pat_" + "0" * 16 + "_" + t.rsplit("_", 1)[-1],  # unknown id
        lambda t: t.split("_", 3)[0] + "_pat_",  # nothing after the prefix
        lambda t: t + "x" * 300,  # oversized
        lambda t: "tsr_pat_" + "\x00" * 16 + "_" + t.rsplit("_", 1)[-1],  # not an id we make
        lambda t: t.upper(),
    ],
)
def test_garbled_tokens_are_refused(uow, dev, mangle):
    _, token = personal_tokens.create(uow, CALLER, dev.id, "ci", ["apps:read"], 7)
    assert personal_tokens.authenticate(uow, mangle(token)) is None


def test_expired_revoked_and_disabled_are_refused(uow, dev):
    row, token = personal_tokens.create(uow, CALLER, dev.id, "ci", ["apps:read"], 7)
    with freeze_time(row.expires_at + timedelta(seconds=1)):
        assert personal_tokens.authenticate(uow, token) is None
        assert personal_tokens.status(row) == "expired"
    dev.disabled_at = utcnow()
    assert personal_tokens.authenticate(uow, token) is None
    dev.disabled_at = None
    assert personal_tokens.authenticate(uow, token) is not None
    personal_tokens.revoke(uow, CALLER, dev.id, row.public_id)
    assert personal_tokens.authenticate(uow, token) is None
    assert personal_tokens.status(row) == "revoked"
    assert uow.audit.names() == ["personal_token.created", "personal_token.revoked"]


def test_only_the_owner_revokes_and_revoking_twice_is_quiet(uow, dev):
    other = add_user(uow, "other")
    row, _ = personal_tokens.create(uow, CALLER, dev.id, "ci", ["apps:read"], 7)
    refused = [(other.id, row.public_id), (dev.id, "nope"), (dev.id, None), (dev.id, "\x00" * 16)]
    for who, public_id in refused:
        with pytest.raises(FieldErrors):
            personal_tokens.revoke(uow, CALLER, who, public_id)
    assert row.revoked_at is None
    personal_tokens.revoke(uow, CALLER, dev.id, row.public_id)
    personal_tokens.revoke(uow, CALLER, dev.id, row.public_id)
    assert uow.audit.names().count("personal_token.revoked") == 1


def test_last_use_is_written_at_most_once_a_minute(uow, dev):
    _, token = personal_tokens.create(uow, CALLER, dev.id, "ci", ["apps:read"], 7)
    start = utcnow()
    with freeze_time(start) as clock:
        personal_tokens.authenticate(uow, token)
        first, commits = uow.personal_tokens.rows[0].last_used_at, uow.commits
        assert first == start
        for _ in range(10):
            clock.tick(5)
            personal_tokens.authenticate(uow, token)
        assert uow.personal_tokens.rows[0].last_used_at == first and uow.commits == commits
        clock.tick(15)  # 65 s after the first use
        personal_tokens.authenticate(uow, token)
        assert uow.personal_tokens.rows[0].last_used_at > first and uow.commits == commits + 1


def test_a_developer_withdraws_a_pending_request_of_their_app():
    uow = apps_unit_of_work()
    owner = add_user(uow, "owner")
    client, _ = create(uow, owner)
    row = uow.access_requests.create(
        client_pk=client.id, kind="tier", tier="partner", justification="x" * 10,
        requested_by=owner.id, status="pending",
    )  # fmt: skip
    other, _ = create(uow, owner)
    with pytest.raises(FieldErrors, match="No such request"):
        access_requests.withdraw(uow, CALLER, other, owner.id, row.id)
    access_requests.withdraw(uow, CALLER, client, owner.id, row.id)
    assert row.status == "withdrawn" and row.decided_by == owner.id
    assert "access_request.withdrawn" in uow.audit.names()
    with pytest.raises(FieldErrors, match="already withdrawn"):
        access_requests.withdraw(uow, CALLER, client, owner.id, row.id)
