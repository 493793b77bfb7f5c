"""Client secrets: 256 random bits made here, stored as a SHA-256 digest, compared in constant time.

Not argon2: a slow hash adds nothing to a 256-bit random secret (nobody can guess one) and
would cap the token endpoint at a few dozen requests per second per core.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable


def generate_secret() -> str:
    return secrets.token_urlsafe(32)


def digest_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def secret_matches(presented: str, digests: Iterable[str]) -> bool:
    """True when the presented secret matches any digest; every digest is compared."""
    return matching_digest(presented, digests) is not None


def matching_digest(presented: str, digests: Iterable[str]) -> str | None:
    """The digest the presented secret matches, or None; every digest is compared."""
    candidate = digest_secret(presented)
    matched = None
    for digest in digests:
        if hmac.compare_digest(candidate, digest):
            matched = digest
    return matched


def token_digest(token: str) -> str:
    """Digest for refresh tokens, codes and device codes: only this is ever stored."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
