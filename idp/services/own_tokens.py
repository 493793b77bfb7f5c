"""Checking access tokens this server minted (userinfo, introspection, revocation, management API).

Resource servers use idp.middleware; inside the IdP the database is at hand, so revocation is
read from it directly rather than from the feed.
"""

from __future__ import annotations

from typing import Any

import jwt

from idp.adapters.models.base import utcnow

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


def is_revoked(uow: Any, claims: dict[str, Any]) -> bool:
    """Revoked jti, revoked grant, or an app that is suspended or gone."""
    client = uow.clients.by_client_id(claims.get("client_id", ""))
    if client is None or client.suspended_at is not None:
        return True
    gid = claims.get("gid")
    if gid:
        grant = uow.grants.by_gid(gid)
        if grant is None or grant.revoked_at is not None:
            return True
    return uow.revocations.token_revoked(claims["jti"], utcnow())
