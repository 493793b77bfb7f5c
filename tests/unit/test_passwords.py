"""docs/security.md#18 and #19: password rules and argon2id parameters."""

from __future__ import annotations

import pytest

from idp.domain.passwords import PasswordRejected, check_password, common_passwords
from idp.storage.password_hasher import Argon2PasswordHasher


def test_checklist_19_minimum_length():
    with pytest.raises(PasswordRejected, match="at least 8"):
        check_password("Ab1!xyz")


def test_checklist_19_long_passwords_accepted_and_not_truncated():
    hasher = Argon2PasswordHasher(1, 8, 1)
    long = "x" * 100
    check_password(long + "unique-suffix")
    stored = hasher.hash(long + "a")
    assert not hasher.verify(stored, long + "b")


def test_checklist_19_no_composition_rules():
    check_password("just lowercase words here")


def test_checklist_19_common_passwords_refused():
    assert len(common_passwords()) > 10000
    for pw in ("password", "12345678", "qwertyuiop", "PASSWORD1"):
        with pytest.raises(PasswordRejected, match="too common"):
            check_password(pw)


def test_checklist_19_username_as_password_refused():
    with pytest.raises(PasswordRejected, match="username"):
        check_password("tradermaster", username="TraderMaster")


def test_checklist_18_argon2id_default_parameters_meet_owasp():
    from idp.config import Settings

    settings = Settings()
    assert (
        settings.ARGON2_TIME_COST >= 2
        and settings.ARGON2_MEMORY_COST >= 19456
        and settings.ARGON2_PARALLELISM >= 1
    )
    hasher = Argon2PasswordHasher(
        settings.ARGON2_TIME_COST, settings.ARGON2_MEMORY_COST, settings.ARGON2_PARALLELISM
    )
    stored = hasher.hash("a passphrase for the test")
    assert stored.startswith("$argon2id$") and "m=19456,t=2,p=1" in stored
    assert hasher.verify(stored, "a passphrase for the test")


def test_checklist_18_needs_rehash_when_parameters_rise():
    weak = Argon2PasswordHasher(1, 8, 1).hash("a passphrase")
    assert Argon2PasswordHasher(2, 16, 1).needs_rehash(weak)
    assert not Argon2PasswordHasher(1, 8, 1).needs_rehash(weak)
    assert Argon2PasswordHasher(1, 8, 1).needs_rehash("not-a-hash")
