"""Tessera's grants, one module each, on Authlib's: no implicit or password grant."""

from __future__ import annotations

from idp.protocol.grants.authorization_code import (
    AuthorizationCodeGrant,
    CodeView,
    TesseraOpenIDCode,
)
from idp.protocol.grants.client_credentials import ClientCredentialsGrant
from idp.protocol.grants.device_code import DeviceCodeGrant, DeviceIDToken
from idp.protocol.grants.refresh_token import RefreshTokenGrant, RefreshView
from idp.protocol.grants.shared import GrantServer, S256CodeChallenge
from idp.protocol.grants.token_exchange import TokenExchangeGrant

__all__ = [
    "AuthorizationCodeGrant",
    "ClientCredentialsGrant",
    "CodeView",
    "DeviceCodeGrant",
    "DeviceIDToken",
    "GrantServer",
    "RefreshTokenGrant",
    "RefreshView",
    "S256CodeChallenge",
    "TesseraOpenIDCode",
    "TokenExchangeGrant",
]
