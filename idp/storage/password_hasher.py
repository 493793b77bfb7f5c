"""argon2id password hashing (docs/security.md#18) behind a small port; imported legacy
hashes (bcrypt, PBKDF2-SHA256) verified too and replaced at the next sign-in (#31)."""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from idp.domain.password_hashes import ARGON2, LEGACY, scheme_of
from idp.storage.legacy_hashes import verify_legacy


class Argon2PasswordHasher:
    """argon2id with explicit parameters; never argon2i/d, never cheaper than configured."""

    def __init__(self, time_cost: int, memory_cost: int, parallelism: int) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_cost,
            parallelism=parallelism,
            hash_len=32,
            salt_len=16,
            type=Type.ID,
        )
        # Verified against when the account does not exist, so both paths cost one argon2 run.
        self._dummy = self._hasher.hash(secrets.token_urlsafe(16))

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, stored: str, password: str) -> bool:
        if not stored:
            # An account without a password (it signs in upstream only, docs/federation.md):
            # the same work as a real check, so timing does not tell it from a wrong password.
            self.burn(password)
            return False
        if stored.startswith("$argon2"):
            try:
                return self._hasher.verify(stored, password)
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                return False
        return verify_legacy(stored, password)

    def needs_rehash(self, stored: str) -> bool:
        """True for every legacy hash, so the sign-in that proves the password upgrades it."""
        if scheme_of(stored) != ARGON2:
            return True
        try:
            return self._hasher.check_needs_rehash(stored)
        except InvalidHashError:
            return True

    @staticmethod
    def scheme(stored: str) -> str:
        """The stored hash's scheme (argon2, bcrypt, ...), for the audit record of an upgrade."""
        found = scheme_of(stored)
        return found if found in (ARGON2, *LEGACY) else "unknown"

    def burn(self, password: str) -> None:
        """Spend the same work as a real verification, for accounts that do not exist."""
        self.verify(self._dummy, password)
