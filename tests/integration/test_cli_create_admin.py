"""`tessera create-admin` on an account that already exists (issue 15, audit log)."""

from __future__ import annotations

from sqlalchemy import select

from idp.extensions import db
from idp.storage.models import AuditEvent, User
from tests.portal.test_admin_fixtures import register

PASSWORD_ARGS = ["--password", "another long passphrase"]


def admin_events(app) -> list[AuditEvent]:
    with app.app_context():
        rows = list(
            db.session.scalars(select(AuditEvent).where(AuditEvent.event == "admin.admin_granted"))
        )
        for row in rows:
            db.session.expunge(row)
        return rows


def is_admin(app, username: str) -> bool:
    with app.app_context():
        return db.session.scalar(select(User.is_admin).where(User.username == username))


def create_admin(app, *args: str, input: str | None = None):
    return app.test_cli_runner().invoke(args=["create-admin", *args], input=input)


def test_promoting_an_existing_account_is_audited(app):
    user_id = register(app, "carol")
    result = create_admin(app, "--username", "carol", "--email", "carol@example.com")
    assert result.exit_code == 0, result.output
    assert "carol is now an administrator." in result.output
    assert is_admin(app, "carol") is True
    (event,) = admin_events(app)
    assert event.user_id is None and event.ip == "cli"
    assert event.data["target_user_id"] == user_id
    assert event.data["via"] == "tessera create-admin"
    again = create_admin(app, "--username", "carol", "--email", "carol@example.com")
    assert "carol was already an administrator." in again.output
    assert len(admin_events(app)) == 1  # nothing changed, nothing audited


def test_mismatched_email_is_refused(app):
    register(app, "carol")
    result = create_admin(app, "--username", "carol", "--email", "mallory@example.com")
    assert result.exit_code != 0
    assert "exists with another email" in result.output
    assert is_admin(app, "carol") is False
    assert admin_events(app) == []


def test_ignored_password_is_said(app):
    register(app, "carol")
    with app.app_context():
        digest = db.session.scalar(select(User.password_hash).where(User.username == "carol"))
    result = create_admin(
        app, "--username", "carol", "--email", "carol@example.com", *PASSWORD_ARGS
    )
    assert result.exit_code == 0, result.output
    assert "--password was ignored" in result.output
    with app.app_context():
        after = db.session.scalar(select(User.password_hash).where(User.username == "carol"))
    assert after == digest


def test_new_admin_is_prompted_for_a_password_and_audited(app):
    answer = "a long admin passphrase\na long admin passphrase\n"
    result = create_admin(app, "--username", "boss", "--email", "boss@example.com", input=answer)
    assert result.exit_code == 0, result.output
    assert is_admin(app, "boss") is True
    (event,) = admin_events(app)
    assert event.data["target_username"] == "boss"
