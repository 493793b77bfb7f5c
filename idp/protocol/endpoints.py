"""Revocation (RFC 7009) and introspection (RFC 7662) on Authlib's endpoints.

Authlib parses the request and authenticates the client; what the token is, who may ask about
it and what is answered are idp.services.token_inspection's.
"""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint

from idp.services import token_inspection
from idp.services.token_inspection import PresentedToken


class TokenHandle:
    """Authlib's view of a presented token."""

    def __init__(self, token: PresentedToken) -> None:
        self.token = token

    def check_client(self, client: Any) -> bool:
        return self.token.client_id == client.get_client_id()

    def is_expired(self) -> bool:
        return self.token.is_expired()

    def is_revoked(self) -> bool:
        return self.token.is_revoked()


def _lookup(server: Any, token: str, hint: str | None) -> TokenHandle | None:
    found = token_inspection.find_presented_token(
        server.uow(), server.keystore, server.settings, token, hint
    )
    return TokenHandle(found) if found is not None else None


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
        token_inspection.revoke(self.server.uow(), token.token)


class TesseraIntrospectionEndpoint(IntrospectionEndpoint):
    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def query_token(self, token_string: str, token_type_hint: str | None) -> TokenHandle | None:
        return _lookup(self.server, token_string, token_type_hint)

    def check_permission(self, token: TokenHandle, client: Any, request: Any) -> bool:
        return token_inspection.may_introspect(
            token.token, client.get_client_id(), client.policy.allowed_scopes
        )

    def introspect_token(self, token: TokenHandle) -> dict[str, Any]:
        return token_inspection.introspection(
            self.server.uow(), token.token, self.server.settings.ISSUER
        )
