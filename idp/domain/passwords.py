"""Password rules (docs/security.md#19; NIST SP 800-63B 3.1.1.2): length, a blocklist, nothing else.

No composition rules: they push people to ``Password1!`` and add nothing a length floor and a
common-password list do not.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

MIN_LENGTH = 8
MAX_LENGTH = 128  # long passphrases welcome; the bound only stops hashing megabytes


class PasswordRejected(ValueError):
    """The password breaks a rule; the message is safe to show to the user."""


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    text = resources.files("idp").joinpath("data/common-passwords.txt").read_text(encoding="utf-8")
    return frozenset(line for line in text.splitlines() if line and not line.startswith("#"))


def check_password(password: str, *, username: str = "", email: str = "") -> None:
    """Raise PasswordRejected with a readable reason, or return when the password is acceptable."""
    length = len(password)
    if length < MIN_LENGTH:
        raise PasswordRejected(f"Use at least {MIN_LENGTH} characters (15 or more is better).")
    if length > MAX_LENGTH:
        raise PasswordRejected(f"Use at most {MAX_LENGTH} characters.")
    lowered = password.lower()
    if lowered in common_passwords():
        raise PasswordRejected(
            "This password is too common; it appears in lists attackers try first."
        )
    personal = {username.lower(), email.lower(), email.lower().split("@")[0]} - {""}
    if lowered in personal:
        raise PasswordRejected("Do not use your username or email address as your password.")
