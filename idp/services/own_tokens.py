"""Checking tokens this server minted (userinfo, introspection, revocation, management API, logout).

Resource servers use the separate tessera_middleware package; inside the IdP the database is
at hand, so revocation is read from it directly rather than from the feed.

The algorithm a token is checked with is its key's, never its header's (RFC 8725 3.1): a
header naming another algorithm than its kid's key is refused before PyJWT sees the pair.
"""

from __future__ import annotations

from typing import Any, Protocol

import jwt

from idp.services.ports import UnitOfWork

ALGORITHMS = frozenset({"ES256", "RS256", "EdDSA"})
ACCESS_TOKEN_TYPES = ("at+jwt", "application/at+jwt")


class VerificationKeys(Protocol):
    """idp.storage.keystore.KeyStore, as far as checking our own tokens goes."""

    def verification_key(self, kid: str) -> tuple[Any, str] | None: ...


def _key_for(keystore: VerificationKeys, token: str, algorithms: frozenset[str]) -> Any:
    """(header, key, alg) when the header's kid is ours and its alg is that key's, else None."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        return None
    found = keystore.verification_key(str(header.get("kid", "")))
    if found is None or found[1] not in algorithms or header.get("alg") != found[1]:
        return None
    return header, found[0], found[1]


def decode_access_token(
    keystore: VerificationKeys, settings: Any, token: str
) -> dict[str, Any] | None:
    """The claims of a valid, unexpired access token of ours, or None."""
    verified = _key_for(keystore, token, ALGORITHMS)
    if verified is None:
        return None
    header, key, alg = verified
    if str(header.get("typ", "")).lower() not in ACCESS_TOKEN_TYPES:
        return None
    try:
        return jwt.decode(
            token,
            key,
            algorithms=[alg],
            issuer=settings.ISSUER,
            audience=list(settings.resources),
            options={"require": ["exp", "iat", "iss", "sub", "jti", "client_id"]},
            leeway=5,
        )
    except jwt.PyJWTError:
        return None


def decode_id_token_hint(
    keystore: VerificationKeys, settings: Any, token: str
) -> dict[str, Any] | None:
    """The claims of an ID token we signed (RS256), expired or not: a logout hint, or None."""
    verified = _key_for(keystore, token, frozenset({"RS256"}))
    if verified is None:
        return None
    _, key, alg = verified
    try:
        return jwt.decode(
            token,
            key,
            algorithms=[alg],
            issuer=settings.ISSUER,
            options={"verify_exp": False, "verify_aud": False},
        )
    except jwt.PyJWTError:
        return None


def is_revoked(uow: UnitOfWork, claims: dict[str, Any]) -> bool:
    """Revoked jti, revoked grant, an app that is suspended or gone, or a token issued before
    its app's suspension ended (issue 12 item 8)."""
    return uow.revocations.access_token_revoked(
        str(claims.get("client_id", "")), claims.get("gid"), str(claims["jti"]), int(claims["iat"])
    )
