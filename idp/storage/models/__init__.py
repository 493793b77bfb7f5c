"""SQLAlchemy models. Imported as one package so Alembic sees every table."""

from idp.storage.models.accounts import AuditEvent, LoginSession, User
from idp.storage.models.clients import (
    AccessRequest,
    Client,
    ClientLogo,
    ClientMember,
    ClientSecret,
    UsageActiveUser,
    UsageDaily,
    UsageErrorDaily,
)
from idp.storage.models.invitations import ClientInvitation
from idp.storage.models.keys import RevocationEvent, SigningKey
from idp.storage.models.tokens import (
    AccessTokenRecord,
    AuthorizationCode,
    DeviceCode,
    Grant,
    RefreshToken,
)

__all__ = [
    "AccessRequest",
    "AccessTokenRecord",
    "AuditEvent",
    "AuthorizationCode",
    "Client",
    "ClientInvitation",
    "ClientLogo",
    "ClientMember",
    "ClientSecret",
    "DeviceCode",
    "Grant",
    "LoginSession",
    "RefreshToken",
    "RevocationEvent",
    "SigningKey",
    "UsageActiveUser",
    "UsageDaily",
    "UsageErrorDaily",
    "User",
]
