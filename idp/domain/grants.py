"""The grant registry: every grant type Tessera serves, and which app types may use it.

App types take their grant lists from here (idp.domain.clients.APP_TYPES), discovery advertises
what is here (idp.web.oidc), and the protocol grants take their client authentication methods
from here. A new grant is one entry below, one module in idp/protocol/grants/.
"""

from __future__ import annotations

from dataclasses import dataclass

AUTHORIZATION_CODE = "authorization_code"
REFRESH_TOKEN = "refresh_token"
CLIENT_CREDENTIALS = "client_credentials"
DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"

SECRET_METHODS = ("client_secret_basic", "client_secret_post")


@dataclass(frozen=True)
class GrantType:
    name: str
    app_types: tuple[str, ...]  # the app types that may use it
    needs_secret: bool  # only confidential apps: the client must authenticate with a secret
    follows_another: bool = False  # continues what another grant started (never an app's first)
    optional: bool = False  # served only when its feature is enabled (the device flow)
    admin_allowed: bool = False  # never registered with an app: an admin allows it per app

    @property
    def token_endpoint_auth_methods(self) -> list[str]:
        return [*SECRET_METHODS] if self.needs_secret else [*SECRET_METHODS, "none"]


GRANTS: dict[str, GrantType] = {
    g.name: g
    for g in (
        GrantType(AUTHORIZATION_CODE, ("web", "spa", "native"), needs_secret=False),
        GrantType(
            REFRESH_TOKEN,
            ("web", "spa", "native", "device"),
            needs_secret=False,
            follows_another=True,
        ),
        GrantType(CLIENT_CREDENTIALS, ("service",), needs_secret=True),
        GrantType(DEVICE_CODE, ("device",), needs_secret=False, optional=True),
        # RFC 8693, for first-party apps an admin allowed (idp.services.token_exchange).
        GrantType(TOKEN_EXCHANGE, ("service", "web"), needs_secret=True, admin_allowed=True),
    )
}


def grant_types_for(app_type: str) -> tuple[str, ...]:
    """The grants an app of this type is registered with: the one it starts with first."""
    usable = [g for g in GRANTS.values() if app_type in g.app_types and not g.admin_allowed]
    return tuple(g.name for g in sorted(usable, key=lambda g: g.follows_another))


def supported_grant_types(*, device_flow: bool) -> list[str]:
    """What discovery advertises (RFC 8414 grant_types_supported)."""
    return [g.name for g in GRANTS.values() if device_flow or not g.optional]
