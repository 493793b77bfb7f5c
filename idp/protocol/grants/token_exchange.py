"""Token exchange (RFC 8693): a first-party app gets a short-lived token acting for a user.

Authlib parses the request and authenticates the client; idp.services.token_exchange decides
(who the subject is, whether the app may, which scopes); the token is minted with an ``act``
claim naming the app and TESSERA_TOKEN_EXCHANGE_TTL as its lifetime. No refresh token.
"""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import UnauthorizedClientError

from idp.domain.clock import utcnow
from idp.domain.grants import GRANTS, TOKEN_EXCHANGE
from idp.protocol.grants.shared import GrantServer, as_authlib_error, caller_of
from idp.services import revocation, token_exchange
from idp.services.own_tokens import decode_access_token, is_revoked
from idp.services.tokens import AccessTokenRequest


class TokenExchangeGrant(grants.BaseGrant, grants.TokenEndpointMixin):
    GRANT_TYPE = TOKEN_EXCHANGE
    TOKEN_ENDPOINT_AUTH_METHODS = GRANTS[TOKEN_EXCHANGE].token_endpoint_auth_methods
    server: GrantServer
    exchange: token_exchange.Exchange | None = None

    def validate_token_request(self) -> None:
        client = self.authenticate_token_endpoint_client()
        self.request.client = client
        data = self.request.payload.data
        if not client.policy.token_exchange:
            raise UnauthorizedClientError("This app is not allowed to use token exchange.")
        with as_authlib_error():
            self.exchange = token_exchange.decide(
                self.server.uow(),
                caller_of(self.request),
                client.policy,
                subject_token=data.get("subject_token"),
                subject_token_type=data.get("subject_token_type"),
                requested_scope=self.request.payload.scope,
                check_access_token=self._check_access_token,
            )

    def _check_access_token(self, token: str) -> dict[str, Any] | None:
        server = self.server
        claims = decode_access_token(server.keystore, server.settings, token)
        if claims is None or is_revoked(server.uow(), claims):
            return None
        return claims

    def create_token_response(self) -> tuple[int, dict[str, Any], list]:
        exchange, client = self.exchange, self.request.client.policy
        server = self.server
        minted = server.minter.access_token(
            AccessTokenRequest(
                client=client,
                scopes=exchange.scopes,
                audience=server.settings.audience,
                subject=exchange.user.subject,
                grant_id=exchange.grant.gid,
                actor=client.client_id,
                ttl=server.settings.TOKEN_EXCHANGE_TTL,
            )
        )
        uow = server.uow()
        uow.access_tokens.insert(
            {"jti": minted.jti, "client_pk": client.pk, "user_id": exchange.user.id,
             "grant_pk": exchange.grant.id, "family_id": None,
             "expires_at": revocation.utc(minted.expires_at)}
        )  # fmt: skip
        exchange.grant.last_used_at = utcnow()
        body = {
            "access_token": minted.token,
            "issued_token_type": token_exchange.ISSUED_TOKEN_TYPE,
            "token_type": "Bearer",
            "expires_in": minted.expires_in,
            "scope": " ".join(exchange.scopes),
        }
        return 200, body, self.TOKEN_RESPONSE_HEADER
