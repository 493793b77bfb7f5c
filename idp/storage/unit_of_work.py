"""The repositories a use case needs, and the one transaction they share (idp.services.ports)."""

from __future__ import annotations

from sqlalchemy import text

from idp.extensions import db
from idp.storage.repositories.account_tokens import SqlAlchemyAccountTokenRepository
from idp.storage.repositories.accounts import (
    SqlAlchemyAuditLog,
    SqlAlchemySessionRepository,
    SqlAlchemyUserRepository,
)
from idp.storage.repositories.apps import (
    SqlAlchemyAccessRequestRepository,
    SqlAlchemyAppUsageRepository,
    SqlAlchemyDirectory,
    SqlAlchemyLogoRepository,
    SqlAlchemyMemberRepository,
)
from idp.storage.repositories.factors import SqlAlchemyFactorRepository
from idp.storage.repositories.federation import SqlAlchemyUpstreamLinkRepository
from idp.storage.repositories.invitations import SqlAlchemyInvitationRepository
from idp.storage.repositories.keys import SqlAlchemySigningKeyRepository
from idp.storage.repositories.mail_outbox import SqlAlchemyMailOutbox
from idp.storage.repositories.maintenance import SqlAlchemyPruning
from idp.storage.repositories.oauth import (
    SqlAlchemyAccessTokenRepository,
    SqlAlchemyClientRepository,
    SqlAlchemyCodeRepository,
    SqlAlchemyDeviceCodeRepository,
    SqlAlchemyGrantRepository,
    SqlAlchemyRefreshTokenRepository,
)
from idp.storage.repositories.personal_tokens import SqlAlchemyPersonalTokenRepository
from idp.storage.repositories.revocations import SqlAlchemyRevocationLog


class SqlAlchemyUnitOfWork:
    # Repositories hold no state (the session is Flask-SQLAlchemy's, per request): one instance
    # each, shared by every unit of work, so a request's unit of work builds no objects.
    users = SqlAlchemyUserRepository()
    sessions = SqlAlchemySessionRepository()
    audit = SqlAlchemyAuditLog()
    clients = SqlAlchemyClientRepository()
    grants = SqlAlchemyGrantRepository()
    codes = SqlAlchemyCodeRepository()
    refresh_tokens = SqlAlchemyRefreshTokenRepository()
    access_tokens = SqlAlchemyAccessTokenRepository()
    device_codes = SqlAlchemyDeviceCodeRepository()
    revocations = SqlAlchemyRevocationLog()
    pruning = SqlAlchemyPruning()
    members = SqlAlchemyMemberRepository()
    invitations = SqlAlchemyInvitationRepository()
    access_requests = SqlAlchemyAccessRequestRepository()
    logos = SqlAlchemyLogoRepository()
    app_usage = SqlAlchemyAppUsageRepository()
    directory = SqlAlchemyDirectory()
    signing_keys = SqlAlchemySigningKeyRepository()
    personal_tokens = SqlAlchemyPersonalTokenRepository()
    mail = SqlAlchemyMailOutbox()
    account_tokens = SqlAlchemyAccountTokenRepository()
    factors = SqlAlchemyFactorRepository()
    upstream_links = SqlAlchemyUpstreamLinkRepository()

    def __enter__(self) -> SqlAlchemyUnitOfWork:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is not None:
            self.rollback()

    def commit(self) -> None:
        db.session.commit()

    def rollback(self) -> None:
        db.session.rollback()

    def ping(self) -> None:
        """Raises when the database does not answer (the health check)."""
        db.session.execute(text("SELECT 1"))
