"""The device authorization endpoint (RFC 8628 3.1-3.2) on Authlib's DeviceAuthorizationEndpoint.

Authlib authenticates the client (``none`` for public device apps, basic or post for
confidential ones); this subclass checks the app may use the device grant, resolves scopes by
its policy and hands storage to ``DeviceFlow.start``.
"""

from __future__ import annotations

from typing import Any

from authlib.consts import default_json_headers
from authlib.oauth2.rfc6749.errors import InvalidScopeError, UnauthorizedClientError
from authlib.oauth2.rfc8628 import DeviceAuthorizationEndpoint

from idp.domain.clients import DEVICE_CODE, resolve_requested_scopes
from idp.domain.resources import token_audience
from idp.protocol.grants.shared import as_authlib_error


class TesseraDeviceAuthorizationEndpoint(DeviceAuthorizationEndpoint):
    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]

    def create_endpoint_response(self, request: Any) -> tuple[int, dict, list]:
        client = self.authenticate_client(request)
        if not client.check_grant_type(DEVICE_CODE):
            raise UnauthorizedClientError("This app is not allowed to use the device flow.")
        decision = resolve_requested_scopes(
            request.payload.scope, client.policy.allowed_scopes, self.server.catalogue.scopes
        )
        if decision.error:
            raise InvalidScopeError(decision.error)
        with as_authlib_error():
            # Device codes carry the default audience (RFC 8707): refuse a resource naming
            # another rather than answer later with a token for the wrong API.
            token_audience(
                request.payload.data.get("resource"),
                known=self.server.resources,
                covered="",
                default=self.server.settings.audience,
            )
        flow = self.server.device_flow
        data = flow.start(self.server.uow(), client.policy, decision.scopes)
        return 200, data, default_json_headers

    def get_verification_uri(self) -> str:
        return self.server.device_flow.verification_uri
