"""Revocation (RFC 7009) and introspection (RFC 7662) on Authlib's endpoints."""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint

from idp.domain.clock import utcnow
from idp.domain.credentials import token_digest
from idp.services import revocation
from idp.services.own_tokens import decode_access_token, is_revoked

RESOURCE_SERVER_SCOPE = "revocations:read"


class TokenHandle:
    """A token presented to revocation or introspection: our JWT or a stored refresh token."""

    def __init__(
        self, kind: str, client_id: str, *, claims: dict | None = None, row: Any = None
    ) -> None:
        self.kind, self.client_id, self.claims, self.row = kind, client_id, claims, row

    def check_client(self, client: Any) -> bool:
        return self.client_id == client.get_client_id()

    def is_expired(self) -> bool:
        if self.kind == "refresh_token":
            now = utcnow()
            return self.row.expires_at <= now or self.row.family_expires_at <= now
        return False  # decode_access_token already refused expired JWTs

    def is_revoked(self) -> bool:
        return self.row is not None and (
            self.row.revoked_at is not None or self.row.rotated_at is not None
        )


def _lookup(server: Any, token: str, hint: str | None) -> TokenHandle | None:
    uow = server.uow()
    order = (
        ("refresh_token", "access_token")
        if hint == "refresh_token"
        else ("access_token", "refresh_token")
    )
    for kind in order:
        if kind == "access_token":
            claims = decode_access_token(server.keystore, server.settings, token)
            if claims is not None:
                return TokenHandle("access_token", claims["client_id"], claims=claims)
        else:
            row = uow.refresh_tokens.by_digest(token_digest(token))
            if row is not None:
                client = uow.clients.get(row.client_pk)
                return TokenHandle("refresh_token", client.client_id if client else "", row=row)
    return None


class TesseraRevocationEndpoint(RevocationEndpoint):
    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]

    def query_token(self, token_string: str, token_type_hint: str | None) -> TokenHandle | None:
        return _lookup(self.server, token_string, token_type_hint)

    def authenticate_token(self, request: Any, client: Any) -> TokenHandle | None:
        # RFC 7009 2.2: an unknown or foreign token still gets 200, and nothing is revoked.
        self.check_params(request, client)
        token = self.query_token(request.form["token"], request.form.get("token_type_hint"))
        return token if token is not None and token.check_client(client) else None

    def revoke_token(self, token: TokenHandle, request: Any) -> None:
        uow = self.server.uow()
        now = utcnow()
        if token.kind == "refresh_token":
            revocation.revoke_family(uow, token.row.family_id, now)
        else:
            revocation.revoke_access_token(
                uow, token.claims["jti"], revocation.utc(token.claims["exp"])
            )
        uow.commit()


class TesseraIntrospectionEndpoint(IntrospectionEndpoint):
    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def query_token(self, token_string: str, token_type_hint: str | None) -> TokenHandle | None:
        return _lookup(self.server, token_string, token_type_hint)

    def check_permission(self, token: TokenHandle, client: Any, request: Any) -> bool:
        """An app may introspect its own tokens; a resource server (revocations:read) any token."""
        return token.check_client(client) or RESOURCE_SERVER_SCOPE in client.policy.allowed_scopes

    def introspect_token(self, token: TokenHandle) -> dict[str, Any]:
        uow = self.server.uow()
        if token.kind == "access_token":
            claims = token.claims
            if is_revoked(uow, claims):
                return {"active": False}
            body = {
                k: claims[k]
                for k in ("scope", "client_id", "sub", "aud", "iss", "exp", "iat", "nbf", "jti")
                if k in claims
            }
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
            "iss": self.server.settings.ISSUER,
            "gid": grant.gid,
        }
