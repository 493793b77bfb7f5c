"""Checking access tokens this server minted (userinfo, introspection, revocation, management API).

Resource servers use idp.middleware; inside the IdP the database is at hand, so revocation is
read from it directly rather than from the feed.
"""

from __future__ import annotations

from typing import Any

import jwt

from idp.services.ports import UnitOfWork

ALGORITHMS = ["ES256", "RS256", "EdDSA"]


def decode_access_token(keystore: Any, settings: Any, token: str) -> dict[str, Any] | None:
    """The claims of a valid, unexpired access token of ours, or None."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        return None
    if str(header.get("typ", "")).lower() not in ("at+jwt", "application/at+jwt"):
        return None
    key = keystore.public_key_for(str(header.get("kid", "")))
    if key is None or header.get("alg") not in ALGORITHMS:
        return None
    try:
        return jwt.decode(
            token,
            key,
            algorithms=[header["alg"]],
            issuer=settings.ISSUER,
            audience=list(settings.resources),
            options={"require": ["exp", "iat", "iss", "sub", "jti", "client_id"]},
            leeway=5,
        )
    except jwt.PyJWTError:
        return None


def is_revoked(uow: UnitOfWork, claims: dict[str, Any]) -> bool:
    """Revoked jti, revoked grant, an app that is suspended or gone, or a token issued before
    its app's suspension ended (issue 12 item 8)."""
    return uow.revocations.access_token_revoked(
        str(claims.get("client_id", "")), claims.get("gid"), str(claims["jti"]), int(claims["iat"])
    )
