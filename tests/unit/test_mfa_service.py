"""Second-factor policy with fakes: TOTP replay, recovery codes single use, throttling,
re-authentication, amr/acr and the admin requirement (docs/security.md#31)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyotp
import pytest

from idp.domain.claims import ACR_MFA, ACR_PASSWORD, acr_for
from idp.errors import FieldErrors
from idp.services import mfa, totp
from idp.services.context import Caller
from idp.services.passkeys import RelyingParty
from tests.unit.fakes import FakeHasher, FakeThrottle, FakeUnitOfWork
from tests.unit.fakes_mfa import FakeFactorRepository, fake_mfa

NOW = datetime(2026, 11, 30, 12, 0, 7, tzinfo=UTC)
CALLER = Caller(ip="203.0.113.9")


@pytest.fixture
def work():
    uow = FakeUnitOfWork(factors=FakeFactorRepository())
    uow.users.create(username="trader", email="t@example.com", password_hash="v1:secret pass")
    return uow


@pytest.fixture
def settings():
    return fake_mfa()


def enrolled(work, settings):
    user = work.users.get(1)
    secret = mfa.start_totp(work, settings, user)
    codes = mfa.confirm_totp(work, settings, CALLER, user, pyotp.TOTP(secret).at(NOW), now=NOW)
    return user, secret, codes


def test_checklist_35_totp_code_cannot_be_replayed(work, settings):
    user, secret, _ = enrolled(work, settings)
    later = NOW + timedelta(seconds=30)
    code = pyotp.TOTP(secret).at(later)
    assert mfa.verify_code(work, settings, CALLER, user, code, now=later) == "otp"
    with pytest.raises(FieldErrors):
        mfa.verify_code(work, settings, CALLER, user, code, now=later)
    # An older step, still inside the drift window, is refused too once a newer one was used.
    with pytest.raises(FieldErrors):
        mfa.verify_code(work, settings, CALLER, user, pyotp.TOTP(secret).at(NOW), now=later)


def test_totp_accepts_one_step_of_drift_and_no_more(work, settings):
    _user, secret, _ = enrolled(work, settings)
    later = NOW + timedelta(minutes=5)
    assert totp.matching_step(secret, pyotp.TOTP(secret).at(later - timedelta(seconds=30)),
                              later.timestamp()) is not None  # fmt: skip
    assert totp.matching_step(secret, pyotp.TOTP(secret).at(later - timedelta(seconds=90)),
                              later.timestamp()) is None  # fmt: skip
    assert totp.matching_step(secret, "12345a", later.timestamp()) is None


def test_checklist_35_recovery_codes_are_single_use_and_stored_hashed(work, settings):
    user, _secret, codes = enrolled(work, settings)
    assert len(codes) == 10 == work.factors.recovery_codes_left(user.id)
    assert not any(c.replace("-", "") in str(work.factors.codes) for c in codes)
    assert mfa.verify_code(work, settings, CALLER, user, codes[3], now=NOW) == "otp"
    with pytest.raises(FieldErrors):
        mfa.verify_code(work, settings, CALLER, user, codes[3], now=NOW)
    assert work.factors.recovery_codes_left(user.id) == 9
    new = mfa.regenerate_recovery_codes(work, CALLER, user)
    with pytest.raises(FieldErrors):
        mfa.verify_code(work, settings, CALLER, user, codes[4], now=NOW)  # old set replaced
    assert mfa.verify_code(work, settings, CALLER, user, new[0], now=NOW) == "otp"


def test_secret_is_sealed_and_confirmation_needs_the_right_code(work, settings):
    user = work.users.get(1)
    secret = mfa.start_totp(work, settings, user)
    assert secret not in work.factors.totp(user.id).secret_encrypted
    with pytest.raises(FieldErrors):
        mfa.confirm_totp(work, settings, CALLER, user, "000000", now=NOW)
    assert not mfa.factors_of(work, user.id).totp
    mfa.confirm_totp(work, settings, CALLER, user, pyotp.TOTP(secret).at(NOW), now=NOW)
    with pytest.raises(FieldErrors):  # a confirmed app is not silently replaced
        mfa.start_totp(work, settings, user)


def test_wrong_codes_are_throttled_per_account(work, settings):
    user, _secret, _ = enrolled(work, settings)
    for _ in range(5):
        with pytest.raises(FieldErrors):
            mfa.verify_code(work, settings, CALLER, user, "999999", now=NOW)
    with pytest.raises(mfa.FactorThrottled):
        mfa.verify_code(work, settings, CALLER, user, "999999", now=NOW)
    assert work.audit.names().count("mfa.code_failed") == 5


def test_confirm_identity_takes_the_password_or_a_code(work, settings):
    user, _secret, codes = enrolled(work, settings)
    hasher, throttle = FakeHasher(), FakeThrottle()
    assert (
        mfa.confirm_identity(work, settings, hasher, throttle, CALLER, user, "secret pass") == "pwd"
    )
    assert mfa.confirm_identity(work, settings, hasher, throttle, CALLER, user, codes[0]) == "otp"
    with pytest.raises(FieldErrors) as refused:
        mfa.confirm_identity(work, settings, hasher, throttle, CALLER, user, "wrong pass")
    assert refused.value.field == "proof" and throttle.failures == [("trader", CALLER.ip)]


def test_amr_and_acr():
    assert mfa.amr_with("pwd", "otp") == "pwd otp mfa"
    assert mfa.amr_with("pwd otp mfa", "hwk") == "pwd otp hwk mfa"
    assert mfa.amr_with("pwd", "pwd") == "pwd"
    assert acr_for(["pwd"]) == ACR_PASSWORD and acr_for(["pwd", "otp", "mfa"]) == ACR_MFA
    assert mfa.session_is_multi_factor("hwk mfa") and not mfa.session_is_multi_factor("pwd")


def test_acr_values_are_met_by_any_listed_class_and_unknown_ones_are_ignored():
    assert not mfa.acr_satisfied([ACR_MFA], "pwd")
    assert mfa.acr_satisfied([ACR_PASSWORD, ACR_MFA], "pwd")
    assert mfa.acr_satisfied([ACR_MFA], "pwd otp mfa")
    assert mfa.acr_satisfied(["urn:other:loa:3"], "pwd")
    assert mfa.acr_satisfied([], "pwd")


def test_checklist_35_admin_without_factor_must_enrol(work):
    user = work.users.get(1)
    user.is_admin = True
    on, off = fake_mfa(require_for_admins=True), fake_mfa(require_for_admins=False)
    assert mfa.admin_must_enrol(on, user, mfa.factors_of(work, user.id))
    assert not mfa.admin_must_enrol(off, user, mfa.factors_of(work, user.id))
    enrolled(work, on)
    assert not mfa.admin_must_enrol(on, user, mfa.factors_of(work, user.id))
    user.is_admin = False
    assert not mfa.admin_must_enrol(on, user, mfa.Factors(totp=False, recovery_codes_left=0))


def test_relying_party_comes_from_the_issuer():
    rp = RelyingParty.from_issuer("https://id.example.com:8443/tenant")
    assert rp.rp_id == "id.example.com" and rp.origin == "https://id.example.com:8443"
