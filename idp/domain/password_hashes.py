"""Which stored password hashes Tessera accepts (docs/security.md#31), told apart by shape alone.

Imported accounts keep the hash the old site made until their first sign-in, when it is
replaced by argon2id. Only these formats are recognised; anything else is refused before it is
stored, so a hash Tessera cannot verify (or a plaintext password in the wrong column) never
reaches the database. Work factors are bounded both ways: too cheap is not a hash worth
keeping, too dear would let one sign-in attempt hold a worker for seconds.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

ARGON2 = "argon2"
BCRYPT = "bcrypt"
DJANGO_PBKDF2_SHA256 = "django_pbkdf2_sha256"
PASSLIB_PBKDF2_SHA256 = "passlib_pbkdf2_sha256"
LEGACY = (BCRYPT, DJANGO_PBKDF2_SHA256, PASSLIB_PBKDF2_SHA256)

BCRYPT_COST = (4, 16)
PBKDF2_ITERATIONS = (1000, 3_000_000)
MAX_LENGTH = 255  # the users.password_hash column

_ARGON2 = re.compile(
    r"\$argon2(id|i|d)\$(v=\d+\$)?m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]+={0,2}\$[A-Za-z0-9+/]+={0,2}"
)
_BCRYPT = re.compile(r"\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}")
_DJANGO = re.compile(r"pbkdf2_sha256\$(\d+)\$([^$]{1,128})\$([A-Za-z0-9+/]{43}=)")
_PASSLIB = re.compile(r"\$pbkdf2-sha256\$(\d+)\$([./A-Za-z0-9]{0,172})\$([./A-Za-z0-9]{43})")


class UnknownHashFormat(ValueError):
    """The text is not a password hash Tessera can verify; the message says why."""


@dataclass(frozen=True)
class Pbkdf2Hash:
    iterations: int
    salt: bytes
    digest: bytes


def scheme_of(stored: str) -> str | None:
    """The scheme of a well-formed stored hash, or None (identify() gives the reason)."""
    try:
        return identify(stored)
    except UnknownHashFormat:
        return None


def identify(stored: str) -> str:
    """The scheme of `stored`, or UnknownHashFormat with a message an operator can act on."""
    if not isinstance(stored, str) or not stored:
        raise UnknownHashFormat("the password hash is empty")
    if len(stored) > MAX_LENGTH:
        raise UnknownHashFormat(f"the password hash is longer than {MAX_LENGTH} characters")
    if _ARGON2.fullmatch(stored):
        return ARGON2
    if match := _BCRYPT.fullmatch(stored):
        _check_range("bcrypt cost", int(match.group(1)), BCRYPT_COST)
        return BCRYPT
    if stored.startswith("pbkdf2_sha256$"):
        parse_django_pbkdf2(stored)
        return DJANGO_PBKDF2_SHA256
    if stored.startswith("$pbkdf2-sha256$"):
        parse_passlib_pbkdf2(stored)
        return PASSLIB_PBKDF2_SHA256
    raise UnknownHashFormat(f"unknown password hash format ({_shape(stored)})")


def parse_django_pbkdf2(stored: str) -> Pbkdf2Hash:
    """Django's `pbkdf2_sha256$<iterations>$<salt>$<base64 of the 32-byte key>`."""
    match = _DJANGO.fullmatch(stored)
    if match is None:
        raise UnknownHashFormat(
            "malformed Django pbkdf2_sha256 hash (expected pbkdf2_sha256$iterations$salt$hash)"
        )
    iterations = _check_range("pbkdf2 iterations", int(match.group(1)), PBKDF2_ITERATIONS)
    digest = base64.b64decode(match.group(3))
    return Pbkdf2Hash(iterations, match.group(2).encode(), digest)


def parse_passlib_pbkdf2(stored: str) -> Pbkdf2Hash:
    """passlib's `$pbkdf2-sha256$<iterations>$<ab64 salt>$<ab64 key>` (ab64: `.` for `+`, no `=`)."""
    match = _PASSLIB.fullmatch(stored)
    if match is None:
        raise UnknownHashFormat(
            "malformed passlib pbkdf2-sha256 hash (expected $pbkdf2-sha256$iterations$salt$hash)"
        )
    iterations = _check_range("pbkdf2 iterations", int(match.group(1)), PBKDF2_ITERATIONS)
    try:
        salt, digest = ab64_decode(match.group(2)), ab64_decode(match.group(3))
    except (binascii.Error, ValueError):
        raise UnknownHashFormat("malformed passlib pbkdf2-sha256 hash (bad base64)") from None
    return Pbkdf2Hash(iterations, salt, digest)


def ab64_decode(text: str) -> bytes:
    """passlib's "adapted base64": standard base64 with `.` for `+` and the padding dropped."""
    return base64.b64decode(text.replace(".", "+") + "=" * (-len(text) % 4), validate=True)


def _check_range(what: str, value: int, bounds: tuple[int, int]) -> int:
    low, high = bounds
    if not low <= value <= high:
        raise UnknownHashFormat(f"{what} {value} is outside the accepted {low}-{high}")
    return value


def _shape(stored: str) -> str:
    """Enough of the hash to recognise it in the file, never the whole of it (it may be a
    password stored in the wrong column)."""
    if stored.startswith("$"):
        prefix = "$" + stored[1:].split("$", 1)[0] + "$"
    elif "$" in stored:
        prefix = stored.split("$", 1)[0] + "$"
    else:
        return f"{len(stored)} characters, no $-separated prefix"
    return f"starts with {prefix[:24]!r}"
