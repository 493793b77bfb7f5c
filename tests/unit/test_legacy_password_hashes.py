"""Stored password hashes: which formats are accepted, verified and upgraded (docs/security.md#31).

The PBKDF2 vectors were made by the libraries the hashes come from (passlib 1.7.4's
pbkdf2_sha256 and django_pbkdf2_sha256), not by this code, so a misreading of either format
(passlib's ab64, Django's standard base64) fails here.
"""

from __future__ import annotations

import bcrypt
import pytest

from idp.domain import password_hashes as ph
from idp.storage.legacy_hashes import verify_legacy
from idp.storage.password_hasher import Argon2PasswordHasher

PW = "correct horse battery staple"
PASSLIB = "$pbkdf2-sha256$29000$WWsNgbBWCiHE.L.XEgIgBA$0wIR4lg/lx0tzBwP/ywj7GMfDY7ua554K0UorSj9iv8"
DJANGO = "pbkdf2_sha256$1000$0VuArdXKfHe4$CdkfLslVuSSLs23Zz1afsAZ2BOoI//YXiGxLS7jwAUw="
# From a published test of a Django-compatible verifier: password "admin123".
DJANGO_260000 = "pbkdf2_sha256$260000$furaojsalt123456$hfk5jpjQnNJqDoI7Emmu7fOoBXuxQuaoy/MO0+Nbtms="


@pytest.fixture(scope="module")
def hasher() -> Argon2PasswordHasher:
    return Argon2PasswordHasher(1, 8, 1)


@pytest.fixture(scope="module")
def bcrypt_hash() -> str:
    return bcrypt.hashpw(PW.encode(), bcrypt.gensalt(4)).decode()


def test_checklist_33_passlib_and_django_pbkdf2_verify_with_their_own_vectors(hasher):
    assert hasher.verify(PASSLIB, PW) and not hasher.verify(PASSLIB, PW + "!")
    assert hasher.verify(DJANGO, PW) and not hasher.verify(DJANGO, "correct horse")
    assert hasher.verify(DJANGO_260000, "admin123")
    assert ph.identify(PASSLIB) == ph.PASSLIB_PBKDF2_SHA256
    assert ph.identify(DJANGO) == ph.DJANGO_PBKDF2_SHA256


@pytest.mark.parametrize("prefix", ["$2b$", "$2a$", "$2y$"])
def test_checklist_33_bcrypt_in_each_prefix(hasher, bcrypt_hash, prefix):
    stored = prefix + bcrypt_hash[4:]
    assert ph.identify(stored) == ph.BCRYPT
    assert hasher.verify(stored, PW)
    assert not hasher.verify(stored, "wrong password")


def test_bcrypt_reads_72_bytes_as_the_libraries_that_made_the_hashes_did(hasher):
    long_password = "x" * 72
    stored = bcrypt.hashpw(long_password.encode(), bcrypt.gensalt(4)).decode()
    # bcrypt 5 refuses more than 72 bytes; the old site's library ignored the rest.
    assert hasher.verify(stored, long_password + "ignored by bcrypt")


def test_checklist_33_every_legacy_hash_needs_rehash_and_argon2id_does_not(hasher, bcrypt_hash):
    for stored in (PASSLIB, DJANGO, bcrypt_hash):
        assert hasher.needs_rehash(stored)
    assert not hasher.needs_rehash(hasher.hash(PW))
    argon2i = "$argon2i$v=19$m=8,t=1,p=1$c29tZXNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"
    assert ph.identify(argon2i) == ph.ARGON2
    assert hasher.needs_rehash(argon2i)  # argon2 "as is", upgraded to argon2id at sign-in
    assert hasher.scheme(bcrypt_hash) == "bcrypt"


@pytest.mark.parametrize(
    ("stored", "reason"),
    [
        ("", "empty"),
        ("md5$salt$0123456789abcdef", "unknown password hash format (starts with 'md5$')"),
        ("hunter2", "unknown password hash format (7 characters, no $-separated prefix)"),
        ("$1$saltsalt$hash", "unknown password hash format (starts with '$1$')"),
        ("$2b$03$" + "a" * 53, "bcrypt cost 3 is outside the accepted 4-16"),
        ("$2b$12$tooshort", "unknown password hash format"),
        ("pbkdf2_sha256$10$salt$" + "A" * 43 + "=", "pbkdf2 iterations 10 is outside"),
        ("pbkdf2_sha256$1000$salt$notbase64", "malformed Django pbkdf2_sha256 hash"),
        ("$pbkdf2-sha256$1000$salt", "malformed passlib pbkdf2-sha256 hash"),
        ("$pbkdf2-sha256$99999999$c2FsdA$" + "A" * 43, "pbkdf2 iterations 99999999 is outside"),
        ("pbkdf2_sha1$1000$salt$abc", "unknown password hash format"),
        ("x" * 300, "longer than 255"),
    ],
)
def test_checklist_33_unknown_or_out_of_bounds_formats_are_refused_with_a_reason(stored, reason):
    with pytest.raises(ph.UnknownHashFormat, match=None) as excinfo:
        ph.identify(stored)
    assert reason in str(excinfo.value)
    assert stored not in str(excinfo.value) or len(stored) < 8  # never echoes a whole value


def test_a_malformed_stored_value_is_a_failed_sign_in_not_an_error(hasher):
    for stored in ("", "$2b$12$broken", "pbkdf2_sha256$x$y$z", "$argon2id$nonsense", "plain"):
        assert hasher.verify(stored, PW) is False
        assert verify_legacy(stored, PW) is False
