"""The refresh token grant (RFC 6749 6): rotation on every use, reuse detection (RFC 9700 4.14.2)."""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import grants

from idp.domain.clock import utcnow
from idp.domain.grants import GRANTS, REFRESH_TOKEN
from idp.protocol.grants.shared import TokenIssuingMixin, as_authlib_error, caller_of
from idp.services import token_issuance
from idp.services.token_issuance import GrantSource, TokenUser


class RefreshTokenGrant(TokenIssuingMixin, grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = GRANTS[REFRESH_TOKEN].token_endpoint_auth_methods
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> RefreshView | None:
        with as_authlib_error():
            redeemed = token_issuance.redeem_refresh_token(
                self.server.uow(),
                refresh_token,
                client_id=self.request.client.get_client_id(),
                caller=caller_of(self.request),
                reuse_grace=self.server.lifetimes.reuse_grace,
                now=utcnow(),
            )
        return RefreshView(redeemed.row, redeemed.gid, redeemed.user) if redeemed else None

    def authenticate_user(self, refresh_token: Any) -> Any:
        return refresh_token.user  # read with the grant; None when the account is disabled

    def revoke_old_credential(self, refresh_token: Any) -> None:
        """Nothing to do: the old token was rotated atomically when it was authenticated."""

    def grant_source(self) -> GrantSource | None:
        refresh: RefreshView = self.request.refresh_token
        return GrantSource.of_refresh_token(refresh.gid, refresh.row)


class RefreshView:
    """What Authlib reads from a rotated refresh token."""

    def __init__(self, row: Any, gid: str, user: TokenUser | None) -> None:
        self.row = row  # the refresh token's columns, as claimed
        self.gid = gid
        self.user = user

    def check_client(self, client: Any) -> bool:
        return self.row.client_pk == client.policy.pk

    def get_scope(self) -> str:
        return self.row.scope
