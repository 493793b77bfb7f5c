"""The repositories a use case needs, and the one transaction they share (idp.services.ports)."""

from __future__ import annotations

from sqlalchemy import text

from idp.extensions import db
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
from idp.storage.repositories.keys import SqlAlchemySigningKeyRepository
from idp.storage.repositories.maintenance import SqlAlchemyPruning
from idp.storage.repositories.oauth import (
    SqlAlchemyAccessTokenRepository,
    SqlAlchemyClientRepository,
    SqlAlchemyCodeRepository,
    SqlAlchemyDeviceCodeRepository,
    SqlAlchemyGrantRepository,
    SqlAlchemyRefreshTokenRepository,
)
from idp.storage.repositories.public_assets import SqlAlchemyPublicAssets
from idp.storage.repositories.revocations import SqlAlchemyRevocationLog


class SqlAlchemyUnitOfWork:
    # App management's repositories hold no state: shared by every unit of work, so the token
    # endpoint's per-request unit of work builds no more objects than it did.
    members = SqlAlchemyMemberRepository()
    access_requests = SqlAlchemyAccessRequestRepository()
    logos = SqlAlchemyLogoRepository()
    app_usage = SqlAlchemyAppUsageRepository()
    directory = SqlAlchemyDirectory()
    signing_keys = SqlAlchemySigningKeyRepository()

    def __init__(self) -> None:
        self.users = SqlAlchemyUserRepository()
        self.sessions = SqlAlchemySessionRepository()
        self.audit = SqlAlchemyAuditLog()
        self.clients = SqlAlchemyClientRepository()
        self.grants = SqlAlchemyGrantRepository()
        self.codes = SqlAlchemyCodeRepository()
        self.refresh_tokens = SqlAlchemyRefreshTokenRepository()
        self.access_tokens = SqlAlchemyAccessTokenRepository()
        self.device_codes = SqlAlchemyDeviceCodeRepository()
        self.revocations = SqlAlchemyRevocationLog()
        self.pruning = SqlAlchemyPruning()
        self.public_assets = SqlAlchemyPublicAssets()

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
