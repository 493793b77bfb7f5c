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
from idp.storage.models.factors import Passkey, RecoveryCode, TotpFactor
from idp.storage.models.federation import UpstreamLink
from idp.storage.models.invitations import ClientInvitation
from idp.storage.models.keys import RevocationEvent, SigningKey
from idp.storage.models.mail import AccountToken, MailMessage, MailSenderLease
from idp.storage.models.personal_tokens import PersonalAccessToken
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
    "AccountToken",
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
    "MailMessage",
    "MailSenderLease",
    "Passkey",
    "PersonalAccessToken",
    "RecoveryCode",
    "RefreshToken",
    "RevocationEvent",
    "SigningKey",
    "TotpFactor",
    "UpstreamLink",
    "UsageActiveUser",
    "UsageDaily",
    "UsageErrorDaily",
    "User",
]
