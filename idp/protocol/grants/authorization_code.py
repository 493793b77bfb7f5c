"""The authorization code grant (RFC 6749 4.1) with PKCE (RFC 7636) and OpenID Connect's ID token."""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import OAuth2Request, grants
from authlib.oidc.core.grants import OpenIDCode

from idp.domain.clock import utcnow
from idp.domain.grants import AUTHORIZATION_CODE, GRANTS
from idp.protocol.grants.shared import (
    GrantServer,
    TokenIssuingMixin,
    as_authlib_error,
    caller_of,
)
from idp.services import token_issuance
from idp.services.token_issuance import CodeContext, GrantSource


class AuthorizationCodeGrant(TokenIssuingMixin, grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = GRANTS[AUTHORIZATION_CODE].token_endpoint_auth_methods
    code_context: CodeContext | None = None  # set by the server's issue_code

    def validate_authorization_request(self) -> str:
        redirect_uri = super().validate_authorization_request()
        # Authlib's get_allowed_scope saw the raw string; keep the de-duplicated list.
        self.request.scope = " ".join(self.scopes or ())
        return redirect_uri

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        if self.code_context is None:
            raise RuntimeError("issue codes through TesseraAuthorizationServer.issue_code")
        token_issuance.save_code(
            self.server.uow(),
            code,
            client_pk=request.client.policy.pk,
            user_id=request.user.id,
            context=self.code_context,
            request={**request.payload.data, "scope": request.scope},
            ttl=self.server.settings.AUTHORIZATION_CODE_TTL,
            now=utcnow(),
        )

    def query_authorization_code(self, code: str, client: Any) -> CodeView | None:
        with as_authlib_error():
            redeemed = token_issuance.redeem_code(
                self.server.uow(),
                code,
                client_pk=client.policy.pk,
                client_id=client.get_client_id(),
                caller=caller_of(self.request),
                now=utcnow(),
            )
        return CodeView(redeemed.row, redeemed.gid) if redeemed else None

    def delete_authorization_code(self, authorization_code: Any) -> None:
        """Nothing to do: the code was claimed atomically in query_authorization_code."""

    def authenticate_user(self, authorization_code: Any) -> Any:
        return token_issuance.active_user(self.server.uow(), authorization_code.row.user_id)

    def grant_source(self) -> GrantSource | None:
        code: CodeView = self.request.authorization_code
        return GrantSource.of_code(code.gid, code.row)


class CodeView:
    """What Authlib and the OpenID extension read from a stored code."""

    def __init__(self, row: Any, gid: str) -> None:
        self.row = row  # the code's columns, as claimed
        self.gid = gid
        self.code_challenge = row.code_challenge
        self.code_challenge_method = row.code_challenge_method

    def get_redirect_uri(self) -> str:
        return self.row.redirect_uri

    def get_scope(self) -> str:
        return self.row.scope

    def get_nonce(self) -> str | None:
        return self.row.nonce

    def get_auth_time(self) -> int:
        return int(self.row.auth_time.timestamp())

    def get_acr(self) -> None:
        return None

    def get_amr(self) -> list[str]:
        return self.row.amr.split()


class TesseraOpenIDCode(OpenIDCode):
    """ID tokens minted by TokenMinter (RS256, kid, at_hash, auth_time, amr, nonce)."""

    def __init__(self, server: GrantServer) -> None:
        super().__init__(require_nonce=False)
        self.server = server

    def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
        return False  # nonce replay is the client's check (OIDC Core 3.1.3.7); codes are one-use

    def encode_id_token(self, token: dict, request: OAuth2Request) -> str:
        code: CodeView = request.authorization_code
        return self.server.minter.id_token(
            client_id=request.client.get_client_id(),
            user=request.user,
            scopes=token["scope"].split(),
            nonce=code.get_nonce(),
            auth_time=code.get_auth_time(),
            amr=code.get_amr(),
            access_token=token["access_token"],
        )
