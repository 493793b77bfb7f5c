"""The client credentials grant (RFC 6749 4.4): an app acting for itself, machine scopes only."""

from __future__ import annotations

from authlib.oauth2.rfc6749 import grants

from idp.domain.grants import CLIENT_CREDENTIALS, GRANTS
from idp.protocol.grants.shared import TokenIssuingMixin


class ClientCredentialsGrant(TokenIssuingMixin, grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = GRANTS[CLIENT_CREDENTIALS].token_endpoint_auth_methods
    MACHINE_ONLY = True
