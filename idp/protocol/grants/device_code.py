"""The device authorization grant's token requests (RFC 8628 3.4-3.5), on idp.services.device_flow."""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc8628 import DeviceCodeGrant as _DeviceCodeGrant

from idp.domain.grants import DEVICE_CODE, GRANTS
from idp.errors import AccessDenied
from idp.protocol.grants.shared import GrantServer, TokenIssuingMixin, as_authlib_error
from idp.services.device_flow import DeviceCredential, RedeemedDevice
from idp.services.token_issuance import GrantSource


class DeviceCodeGrant(TokenIssuingMixin, _DeviceCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = GRANTS[DEVICE_CODE].token_endpoint_auth_methods
    redeemed: RedeemedDevice | None = None

    def query_device_credential(self, device_code: str) -> DeviceCredential:
        with as_authlib_error():
            return self.server.device_flow.credential(self.server.uow(), device_code)

    def query_user_grant(self, user_code: str) -> tuple[Any, bool] | None:
        """Authlib's answer: None while pending, (user, False) when denied, (user, True) once."""
        with as_authlib_error():
            try:
                self.redeemed = self.server.device_flow.redeem(self.server.uow(), user_code)
            except AccessDenied:
                return None, False  # Authlib answers access_denied (RFC 8628 3.5)
        return (self.redeemed.user, True) if self.redeemed else None

    def should_slow_down(self, credential: DeviceCredential) -> bool:
        return self.server.device_flow.should_slow_down(self.server.uow(), credential)

    def grant_source(self) -> GrantSource | None:
        redeemed = self.redeemed
        return GrantSource.of_device_code(redeemed.gid, redeemed.row) if redeemed else None


class DeviceIDToken:
    """OpenID Connect for the device grant: with `openid` issued, an ID token as the code flow
    gives (RS256, auth_time, at_hash; no nonce: a device request carries none)."""

    def __init__(self, server: GrantServer) -> None:
        self.server = server

    def __call__(self, grant: DeviceCodeGrant) -> None:
        grant.register_hook("after_create_token_response", self.add_id_token)

    def add_id_token(self, grant: DeviceCodeGrant, response: tuple[int, dict, Any]) -> None:
        _status, token, _headers = response
        scopes = token.get("scope", "").split()
        redeemed = grant.redeemed
        if "openid" not in scopes or redeemed is None:
            return
        auth_time = redeemed.row.auth_time
        token["id_token"] = self.server.minter.id_token(
            client_id=grant.request.client.get_client_id(),
            user=redeemed.user,
            scopes=scopes,
            nonce=None,
            auth_time=int(auth_time.timestamp()) if auth_time else None,
            amr=None,
            access_token=token["access_token"],
        )
