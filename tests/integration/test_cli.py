"""Operator commands."""

from __future__ import annotations

import socket

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


def test_an_unreachable_database_is_one_line_naming_the_host_not_the_password(
    tmp_path, monkeypatch
):
    from click.testing import CliRunner

    from idp.cli import make_cli

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv(
        "TESSERA_DATABASE_URL", f"postgresql+psycopg://tessera:hunter2-secret@127.0.0.1:{port}/idp"
    )
    monkeypatch.setenv("TESSERA_SECRET_KEY", "s" * 40)
    monkeypatch.setenv("TESSERA_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("TESSERA_DB_CONNECT_TIMEOUT", "2")
    result = CliRunner().invoke(make_cli(), ["db", "upgrade"])
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert lines == [lines[0]] and f"127.0.0.1:{port}/idp is unavailable" in lines[0]
    assert "Traceback" not in result.output and "hunter2" not in result.output


def test_accounts_the_operator_creates_are_verified(app):
    """seed-demo and create-admin vouch for the address: such accounts may consent in
    production, where unverified ones may not (TESSERA_UNVERIFIED_MAY_CONSENT)."""
    from idp.extensions import db
    from idp.storage.models import User

    assert app.test_cli_runner().invoke(args=["seed-demo"]).exit_code == 0
    with app.app_context():
        users = db.session.scalars(db.select(User)).all()
        assert {u.username: u.email_verified for u in users} == {"admin": True, "demo": True}
