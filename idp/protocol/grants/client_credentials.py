"""The client credentials grant (RFC 6749 4.4): an app acting for itself, machine scopes only."""

from __future__ import annotations

from authlib.oauth2.rfc6749 import grants

from idp.protocol.grants.shared import TokenIssuingMixin


class ClientCredentialsGrant(TokenIssuingMixin, grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]
    MACHINE_ONLY = True
