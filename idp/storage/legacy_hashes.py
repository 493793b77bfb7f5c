"""Verifying the legacy hashes imported accounts arrive with (docs/security.md#31).

Each verifier answers only true or false, compares in constant time, and never raises on a
hash it cannot read: a malformed stored value is a failed sign-in, not a 500.
"""

from __future__ import annotations

import hashlib
import hmac

import bcrypt

from idp.domain.password_hashes import (
    BCRYPT,
    DJANGO_PBKDF2_SHA256,
    PASSLIB_PBKDF2_SHA256,
    Pbkdf2Hash,
    UnknownHashFormat,
    parse_django_pbkdf2,
    parse_passlib_pbkdf2,
    scheme_of,
)

BCRYPT_MAX_BYTES = 72


def verify_legacy(stored: str, password: str) -> bool:
    """True when `password` matches a recognised legacy hash; False otherwise."""
    scheme = scheme_of(stored)
    try:
        if scheme == BCRYPT:
            return _verify_bcrypt(stored, password)
        if scheme == DJANGO_PBKDF2_SHA256:
            return _verify_pbkdf2(parse_django_pbkdf2(stored), password)
        if scheme == PASSLIB_PBKDF2_SHA256:
            return _verify_pbkdf2(parse_passlib_pbkdf2(stored), password)
    except (UnknownHashFormat, ValueError):
        return False
    return False


def _verify_bcrypt(stored: str, password: str) -> bool:
    # bcrypt reads at most 72 bytes; the libraries the hashes come from truncated silently, and
    # bcrypt 5 refuses longer input instead, so truncate as they did.
    return bcrypt.checkpw(password.encode()[:BCRYPT_MAX_BYTES], stored.encode("ascii"))


def _verify_pbkdf2(parsed: Pbkdf2Hash, password: str) -> bool:
    key = hashlib.pbkdf2_hmac(
        "sha256", password.encode(), parsed.salt, parsed.iterations, dklen=len(parsed.digest)
    )
    return hmac.compare_digest(key, parsed.digest)
