"""SQLAlchemy models. Imported as one package so Alembic sees every table."""

from idp.adapters.models.accounts import AuditEvent, LoginSession, User

__all__ = ["AuditEvent", "LoginSession", "User"]
