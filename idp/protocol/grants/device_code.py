"""The device authorization grant's token requests (RFC 8628 3.4-3.5), on idp.services.device_flow."""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc8628 import DeviceCodeGrant as _DeviceCodeGrant

from idp.protocol.grants.shared import TokenIssuingMixin
from idp.services.token_issuance import GrantSource


class DeviceCodeGrant(TokenIssuingMixin, _DeviceCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]

    def query_device_credential(self, device_code: str) -> Any:
        return self.server.device_flow.credential(self.server.uow(), device_code)

    def query_user_grant(self, user_code: str) -> Any:
        return self.server.device_flow.user_grant(self.server.uow(), self.request, user_code)

    def should_slow_down(self, credential: Any) -> bool:
        return self.server.device_flow.should_slow_down(self.server.uow(), credential)

    def grant_source(self) -> GrantSource | None:
        device = self.request.tessera_device
        return GrantSource.of_device_code(device.gid, device.row)
