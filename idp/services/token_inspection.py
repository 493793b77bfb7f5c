"""Revocation (RFC 7009) and introspection (RFC 7662): which token was presented, who may ask
about it, what is answered, and what revoking it ends. Authlib's endpoints
(idp.protocol.endpoints) call these.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from idp.domain.clock import utcnow
from idp.domain.credentials import token_digest
from idp.services import revocation
from idp.services.own_tokens import decode_access_token, is_revoked
from idp.services.ports import Record, UnitOfWork

# A resource server holding this scope may introspect any token and read the revocation feed.
RESOURCE_SERVER_SCOPE = "revocations:read"
ACCESS_TOKEN_FIELDS = ("scope", "client_id", "sub", "aud", "iss", "exp", "iat", "nbf", "jti")


@dataclass(frozen=True)
class PresentedToken:
    """Our JWT access token (its claims) or a stored refresh token (its row)."""

    kind: str  # "access_token" or "refresh_token"
    client_id: str
    claims: dict[str, Any] | None = None
    row: Record = None

    def is_expired(self) -> bool:
        if self.kind == "refresh_token":
            now = utcnow()
            return self.row.expires_at <= now or self.row.family_expires_at <= now
        return False  # decode_access_token already refused expired JWTs

    def is_revoked(self) -> bool:
        return self.row is not None and (
            self.row.revoked_at is not None or self.row.rotated_at is not None
        )


def find_presented_token(
    uow: UnitOfWork, keystore: Any, settings: Any, token: str, hint: str | None
) -> PresentedToken | None:
    """The token, tried first as the kind the client hinted (RFC 7009 2.1), or None."""
    order = (
        ("refresh_token", "access_token")
        if hint == "refresh_token"
        else ("access_token", "refresh_token")
    )
    for kind in order:
        if kind == "access_token":
            claims = decode_access_token(keystore, settings, token)
            if claims is not None:
                return PresentedToken("access_token", claims["client_id"], claims=claims)
        else:
            row = uow.refresh_tokens.by_digest(token_digest(token))
            if row is not None:
                client = uow.clients.get(row.client_pk)
                return PresentedToken("refresh_token", client.client_id if client else "", row=row)
    return None


def may_introspect(token: PresentedToken, client_id: str, allowed_scopes: Any) -> bool:
    """An app may introspect its own tokens; a resource server any token."""
    return token.client_id == client_id or RESOURCE_SERVER_SCOPE in allowed_scopes


def revoke(uow: UnitOfWork, token: PresentedToken) -> None:
    """A refresh token ends its whole family; an access token goes on the feed until it expires."""
    if token.kind == "refresh_token":
        revocation.revoke_family(uow, token.row.family_id, utcnow())
    else:
        claims = token.claims
        revocation.revoke_access_token(uow, claims["jti"], revocation.utc(claims["exp"]))
    uow.commit()


def introspection(uow: UnitOfWork, token: PresentedToken, issuer: str) -> dict[str, Any]:
    """RFC 7662 2.2: `active` and, when active, what a resource server needs to decide."""
    if token.kind == "access_token":
        claims = token.claims
        if is_revoked(uow, claims):
            return {"active": False}
        body = {k: claims[k] for k in ACCESS_TOKEN_FIELDS if k in claims}
        body.update(active=True, token_type="Bearer")
        body.update({k: claims[k] for k in ("gid", "tier") if k in claims})
        return body
    row = token.row
    grant = uow.grants.by_pk(row.grant_pk)
    user = uow.users.get(row.user_id)
    if grant is None or grant.revoked_at is not None or user is None:
        return {"active": False}
    return {
        "active": True,
        "token_type": "refresh_token",
        "client_id": token.client_id,
        "scope": row.scope,
        "sub": user.subject,
        "exp": int(row.expires_at.timestamp()),
        "iat": int(row.created_at.timestamp()),
        "iss": issuer,
        "gid": grant.gid,
    }
