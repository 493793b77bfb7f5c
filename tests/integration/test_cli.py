"""Operator commands."""

from __future__ import annotations

from sqlalchemy import func, select

from idp.extensions import db
from idp.storage.models import User


def test_seed_demo_is_idempotent(app):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["seed-demo"])
    assert first.exit_code == 0, first.output
    assert "admin account: admin / " in first.output
    second = runner.invoke(args=["seed-demo"])
    assert second.exit_code == 0, second.output
    assert "nothing changed" in second.output
    with app.app_context():
        assert db.session.scalar(select(func.count(User.id))) == 2
        assert db.session.scalar(select(User.is_admin).where(User.username == "admin")) is True


def test_create_admin(app):
    result = app.test_cli_runner().invoke(
        args=[
            "create-admin",
            "--username",
            "boss",
            "--email",
            "boss@example.com",
            "--password",
            "a long admin passphrase",
        ]
    )
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert db.session.scalar(select(User.is_admin).where(User.username == "boss")) is True


def test_create_admin_weak_password_is_a_clear_error(app):
    result = app.test_cli_runner().invoke(
        args=[
            "create-admin",
            "--username",
            "boss",
            "--email",
            "boss@example.com",
            "--password",
            "password",
        ]
    )
    assert result.exit_code != 0
    assert "too common" in result.output
