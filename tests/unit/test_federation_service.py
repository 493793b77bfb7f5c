"""idp.services.federation with fakes: sign-in outcomes, linking rules, unlinking, new accounts."""

from __future__ import annotations

import pytest

from idp.errors import FieldErrors
from idp.services import federation
from idp.services.context import Caller
from idp.services.federation import FederationRefused, UpstreamIdentity
from tests.unit.fakes import FakeUnitOfWork
from tests.unit.fakes_federation import FakeUpstreamLinkRepository

CALLER = Caller(ip="198.51.100.7", user_agent="pytest")


def _uow() -> FakeUnitOfWork:
    return FakeUnitOfWork(upstream_links=FakeUpstreamLinkRepository())


def _user(uow, username="trader", email="trader@example.com", password_hash="$argon2id$x"):
    return uow.users.create(username=username, username_key=username.lower(), email=email,
                            email_key=email.lower(), password_hash=password_hash, subject=username)  # fmt: skip


def _discord(subject="42", email="trader@example.com", verified=True) -> UpstreamIdentity:
    return UpstreamIdentity("discord", subject, "nelly", email, verified)


def test_a_linked_upstream_account_signs_in_and_is_audited():
    uow = _uow()
    user = _user(uow)
    federation.link(uow, CALLER, user, _discord())
    outcome = federation.upstream_sign_in(uow, CALLER, _discord())
    assert isinstance(outcome, federation.SignedIn) and outcome.user is user
    assert uow.audit.names() == ["upstream.linked", "upstream.sign_in"]


def test_federation_never_links_silently_by_email():
    """docs/security.md#31: a matching verified e-mail asks for that account's sign-in first."""
    uow = _uow()
    user = _user(uow)
    outcome = federation.upstream_sign_in(uow, CALLER, _discord())
    assert outcome == federation.PasswordFirst(user.id)
    assert uow.upstream_links.rows == []
    other = _user(uow, "other", "other@example.com")
    with pytest.raises(FederationRefused, match="different account"):
        federation.complete_pending_link(uow, CALLER, other, _discord(), user.id)
    assert uow.upstream_links.rows == []
    federation.complete_pending_link(uow, CALLER, user, _discord(), user.id)
    assert [(r.user_id, r.subject) for r in uow.upstream_links.rows] == [(user.id, "42")]


def test_an_unverified_email_matches_no_account():
    uow = _uow()
    _user(uow)
    outcome = federation.upstream_sign_in(uow, CALLER, _discord(verified=False))
    assert isinstance(outcome, federation.ChooseUsername)
    with pytest.raises(FederationRefused, match="no verified e-mail"):
        federation.create_account(uow, CALLER, _discord(verified=False), "newname")


def test_one_upstream_account_one_tessera_account():
    uow = _uow()
    first, second = _user(uow), _user(uow, "second", "second@example.com")
    federation.link(uow, CALLER, first, _discord())
    with pytest.raises(FederationRefused, match="another Tessera account"):
        federation.link(uow, CALLER, second, _discord())
    with pytest.raises(FederationRefused, match="unlink it first"):
        federation.link(uow, CALLER, first, _discord(subject="43"))
    assert federation.link(uow, CALLER, first, _discord()).user_id == first.id  # idempotent


def test_a_new_account_signs_in_upstream_only_and_cannot_drop_its_last_link():
    uow = _uow()
    identity = _discord(email="new@example.com")
    with pytest.raises(FieldErrors):
        federation.create_account(uow, CALLER, identity, "no spaces allowed")
    user = federation.create_account(uow, CALLER, identity, "newbie")
    assert user.password_hash == "" and user.email_verified is True
    assert not federation.has_password(user)
    with pytest.raises(FederationRefused, match="only way to sign in"):
        federation.unlink(uow, CALLER, user, "discord")
    assert len(uow.upstream_links.rows) == 1


def test_unlink_with_a_password_left_is_audited():
    uow = _uow()
    user = _user(uow)
    federation.link(uow, CALLER, user, _discord())
    federation.unlink(uow, CALLER, user, "discord")
    assert uow.upstream_links.rows == [] and uow.audit.names()[-1] == "upstream.unlinked"
    with pytest.raises(FederationRefused):
        federation.unlink(uow, CALLER, user, "discord")


def test_a_disabled_account_does_not_sign_in_upstream():
    uow = _uow()
    user = _user(uow)
    federation.link(uow, CALLER, user, _discord())
    user.disabled_at = object()
    with pytest.raises(FederationRefused, match="disabled"):
        federation.upstream_sign_in(uow, CALLER, _discord())


def test_the_identity_survives_the_session_and_refuses_garbage():
    identity = _discord()
    assert UpstreamIdentity.from_dict(identity.as_dict()) == identity
    assert UpstreamIdentity.from_dict({"provider": "discord"}) is None
    assert UpstreamIdentity.from_dict("nope") is None


def test_an_account_without_a_password_costs_a_full_check_and_never_matches():
    """Timing must not tell an upstream-only account from a wrong password (security.md#20)."""
    from idp.storage.password_hasher import Argon2PasswordHasher

    hasher = Argon2PasswordHasher(1, 8, 1)
    burned = []
    hasher.burn = lambda password: burned.append(password)
    assert hasher.verify("", "anything") is False and burned == ["anything"]
