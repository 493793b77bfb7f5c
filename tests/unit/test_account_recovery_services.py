"""The recovery use cases against fakes: password reset, e-mail verification and change."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from freezegun import freeze_time

from idp.domain.clock import utcnow
from idp.errors import FieldErrors
from idp.services import email_change, email_verification, password_reset
from idp.services.accounts import LoginThrottled
from idp.services.context import Caller
from idp.services.mail import ActionThrottled, LinkInvalid, Links, token_digest
from idp.services.revocation import RevocationWindow
from tests.unit.fakes import FakeHasher, FakeThrottle
from tests.unit.fakes_mail import FakeActionThrottle, mail_uow

CALLER = Caller(ip="203.0.113.9", user_agent="pytest")
LINKS = Links("https://id.example.com")
RESET = password_reset.ResetPolicy(LINKS, 1800)
VERIFY = email_verification.VerificationPolicy(LINKS, 86400, unverified_may_consent=False)
CHANGE = email_change.ChangePolicy(LINKS, 86400)
NEW = "a brand new passphrase for dana"


@pytest.fixture
def uow():
    work = mail_uow()
    work.users.create(
        subject="s1", username="dana", username_key="dana", email="dana@example.com",
        email_key="dana@example.com", password_hash="v1:old passphrase for dana",
        must_change_password=False,
    )  # fmt: skip
    return work


def dana(uow):
    return uow.users.get(1)


def token_of(link: str) -> str:
    return link.rsplit("/", 1)[1]


def test_checklist_34_only_the_digest_is_stored(uow):
    password_reset.request_reset(uow, FakeActionThrottle(), RESET, CALLER, "dana")
    [mail] = uow.mail.queued
    raw = token_of(mail.link)
    [stored] = uow.account_tokens.rows
    assert stored.digest == token_digest(raw) and raw not in vars(stored).values()
    assert stored.expires_at - stored.created_at == timedelta(minutes=30)
    assert mail.link == f"https://id.example.com/password/reset/{raw}" and mail.minutes == 30


def test_unknown_and_disabled_accounts_get_no_mail_and_no_error(uow):
    password_reset.request_reset(uow, FakeActionThrottle(), RESET, CALLER, "nobody")
    dana(uow).disabled_at = utcnow()
    password_reset.request_reset(uow, FakeActionThrottle(), RESET, CALLER, "dana")
    assert uow.mail.queued == [] and uow.account_tokens.rows == []
    assert uow.audit.names() == ["password.reset_requested"] * 2


def test_per_account_limit_is_silent_per_ip_limit_is_an_error(uow):
    throttle = FakeActionThrottle(limit=2)
    for ip in ("198.51.100.1", "198.51.100.2", "198.51.100.3"):
        password_reset.request_reset(uow, throttle, RESET, Caller(ip=ip), "dana")
    assert len(uow.mail.queued) == 2 and "password.reset_suppressed" in uow.audit.names()
    password_reset.request_reset(uow, throttle, RESET, Caller(ip="198.51.100.9"), "x")
    password_reset.request_reset(uow, throttle, RESET, Caller(ip="198.51.100.9"), "y")
    with pytest.raises(ActionThrottled):
        password_reset.request_reset(uow, throttle, RESET, Caller(ip="198.51.100.9"), "z")


def test_complete_reset_sets_password_ends_sessions_and_voids_links(uow):
    password_reset.request_reset(uow, FakeActionThrottle(), RESET, CALLER, "dana")
    password_reset.request_reset(uow, FakeActionThrottle(), RESET, CALLER, "dana")
    first, second = (token_of(m.link) for m in uow.mail.queued)
    uow.sessions.create(id_digest="d1", user_id=1)
    uow.grants.rows.append(SimpleNamespace(id=7, gid="g7", user_id=1, revoked_at=None))
    hasher = FakeHasher()
    user = password_reset.complete_reset(
        uow, hasher, RevocationWindow(600), CALLER, second, new_password=NEW, revoke_apps=False
    )
    assert hasher.verify(user.password_hash, NEW) and user.email_verified is True
    assert uow.sessions.rows == {} and uow.revocations.entries == []
    with pytest.raises(LinkInvalid, match="already been used"):
        password_reset.check_link(uow, first)  # the older link died with the reset
    assert uow.mail.templates()[-1] == "password_changed"


def test_complete_reset_with_revocation_revokes_every_grant(uow):
    password_reset.request_reset(uow, FakeActionThrottle(), RESET, CALLER, "dana")
    uow.grants.rows.append(SimpleNamespace(id=7, gid="g7", user_id=1, revoked_at=None))
    password_reset.complete_reset(
        uow, FakeHasher(), RevocationWindow(600), CALLER, token_of(uow.mail.queued[0].link),
        new_password=NEW, revoke_apps=True,
    )  # fmt: skip
    assert uow.refresh_tokens.revoked_grants == [7]
    assert [e[:2] for e in uow.revocations.entries] == [("grant", "g7")]


def test_weak_password_does_not_use_up_the_link(uow):
    password_reset.request_reset(uow, FakeActionThrottle(), RESET, CALLER, "dana")
    raw = token_of(uow.mail.queued[0].link)
    with pytest.raises(FieldErrors):
        password_reset.complete_reset(
            uow, FakeHasher(), RevocationWindow(600), CALLER, raw, new_password="dana",
            revoke_apps=False,
        )  # fmt: skip
    assert password_reset.check_link(uow, raw) is dana(uow)


def test_expired_reset_link_is_refused(uow):
    password_reset.request_reset(uow, FakeActionThrottle(), RESET, CALLER, "dana")
    raw = token_of(uow.mail.queued[0].link)
    later = utcnow() + timedelta(minutes=30, seconds=1)
    with freeze_time(later), pytest.raises(LinkInvalid, match="expired"):
        password_reset.check_link(uow, raw)


def test_forced_change_needs_a_different_password(uow):
    admin = SimpleNamespace(id=99)
    password_reset.admin_force_change(uow, CALLER, admin, dana(uow))
    assert dana(uow).must_change_password is True
    dana(uow).password_hash = "v1:" + NEW
    with pytest.raises(FieldErrors, match="different"):
        password_reset.forced_change(
            uow, FakeHasher(), CALLER, dana(uow), new_password=NEW, keep_session="x"
        )
    password_reset.forced_change(
        uow, FakeHasher(), CALLER, dana(uow), new_password=NEW + " two", keep_session="x"
    )
    assert dana(uow).must_change_password is False


def test_verification_link_verifies_once_and_only_the_address_it_was_sent_to(uow):
    email_verification.send_link(uow, VERIFY, CALLER, dana(uow))
    raw = token_of(uow.mail.queued[0].link)
    assert uow.mail.queued[0].hours == 24
    assert not email_verification.may_consent(VERIFY, dana(uow))
    email_verification.verify(uow, CALLER, raw)
    assert dana(uow).email_verified and email_verification.may_consent(VERIFY, dana(uow))
    with pytest.raises(LinkInvalid, match="already been used"):
        email_verification.verify(uow, CALLER, raw)
    dana(uow).email_verified = False
    email_verification.send_link(uow, VERIFY, CALLER, dana(uow))
    dana(uow).email_key = "moved@example.com"
    with pytest.raises(LinkInvalid, match="no longer uses"):
        email_verification.verify(uow, CALLER, token_of(uow.mail.queued[-1].link))
    assert dana(uow).email_verified is False


def test_resend_is_throttled_and_refused_once_verified(uow):
    throttle = FakeActionThrottle(limit=1)
    email_verification.resend(uow, throttle, VERIFY, CALLER, dana(uow))
    with pytest.raises(ActionThrottled):
        email_verification.resend(uow, throttle, VERIFY, CALLER, dana(uow))
    dana(uow).email_verified = True
    with pytest.raises(FieldErrors, match="already verified"):
        email_verification.resend(uow, FakeActionThrottle(), VERIFY, CALLER, dana(uow))


def _request_change(uow, login_throttle=None, password="old passphrase for dana"):
    return email_change.request_change(
        uow, FakeHasher(), login_throttle or FakeThrottle(), FakeActionThrottle(), CHANGE,
        CALLER, dana(uow), new_email="Dana.New@Example.com", password=password,
    )  # fmt: skip


def test_email_change_waits_for_the_new_address_and_tells_the_old(uow):
    address = _request_change(uow)
    assert dana(uow).email == "dana@example.com"
    confirm, notice = uow.mail.queued
    assert confirm.to == address and confirm.template == "email_change_confirm"
    assert notice.to == "dana@example.com" and notice.done is False
    email_change.confirm_change(uow, CALLER, token_of(confirm.link))
    assert dana(uow).email == address and dana(uow).email_key == address.lower()
    assert dana(uow).email_verified is True
    assert uow.mail.queued[-1].to == "dana@example.com" and uow.mail.queued[-1].done is True


def test_email_change_wrong_password_counts_as_a_failed_login(uow):
    throttle = FakeThrottle()
    with pytest.raises(FieldErrors, match="not correct"):
        _request_change(uow, throttle, password="guess")
    assert throttle.failures == [("dana", CALLER.ip)] and uow.mail.queued == []
    throttle.wait = 30
    with pytest.raises(LoginThrottled):
        _request_change(uow, throttle)


def test_email_change_refused_when_the_address_was_taken_meanwhile(uow):
    raw = token_of(_request_change(uow) and uow.mail.queued[0].link)
    uow.users.create(
        subject="s2", username="other", username_key="other", email="dana.new@example.com",
        email_key="dana.new@example.com", password_hash="v1:x",
    )  # fmt: skip
    with pytest.raises(LinkInvalid, match="Another account"):
        email_change.confirm_change(uow, CALLER, raw)
    assert dana(uow).email == "dana@example.com"
