"""Operator commands: ``tessera db upgrade``, ``create-admin``, ``seed-demo``, ``serve``...

``tessera`` is Flask's CLI bound to create_app, so ``flask --app idp`` works the same way.
"""

from __future__ import annotations

import json
import secrets
import sys
from pathlib import Path
from typing import Any

import click
from flask import current_app
from flask.cli import FlaskGroup, ScriptInfo, with_appcontext
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from idp.errors import FieldErrors
from idp.private_files import write_private
from idp.services import accounts, users_admin
from idp.services.context import Caller
from idp.storage.outage import first_line, is_outage
from idp.storage.unit_of_work import SqlAlchemyUnitOfWork

CLI_CALLER = Caller(ip="cli", user_agent="tessera-cli")
# FieldErrors keys are ClientSpec fields; say which option to fix.
OPTION_OF_FIELD = {
    "app_type": "--type",
    "redirect_uris": "--redirect-uri",
    "post_logout_redirect_uris": "--post-logout-redirect-uri",
    "scopes": "--scope",
    "homepage_url": "--homepage",
}


def tessera() -> Any:
    return current_app.extensions["tessera"]


def unit_of_work() -> SqlAlchemyUnitOfWork:
    """The commands' one way to storage: a command enters it and calls a use case."""
    return SqlAlchemyUnitOfWork()


class FieldErrorsGroup(click.Group):
    """A use case's FieldErrors become the command's error: one line per problem, by option."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except FieldErrors as exc:
            raise click.ClickException(
                "\n".join(
                    f"{OPTION_OF_FIELD.get(key, '--' + key.replace('_', '-'))}: {message}"
                    for key, messages in exc.errors.items()
                    for message in messages
                )
            ) from None


def _ensure_user(
    username: str, email: str, password: str | None, *, admin: bool
) -> tuple[object, str | None]:
    """The user, created when missing; returns the generated password only on creation."""
    uow = unit_of_work()
    user = uow.users.by_login(username)
    if user is not None:
        return user, None
    password = password or secrets.token_urlsafe(12)
    with uow:
        user = accounts.register(
            uow, tessera().hasher, CLI_CALLER, username=username, email=email, password=password
        )
        # The operator vouches for an address it types here (the demo accounts' are not real
        # mailboxes): no verification mail, and the account may consent in production.
        user.email_verified = True
        if admin:
            users_admin.make_admin(uow, CLI_CALLER, user)
        uow.commit()
    return user, password


@click.command("create-admin")
@click.option("--username", required=True)
@click.option("--email", required=True, help="For an existing account: its own email.")
@click.option(
    "--password",
    default=None,
    help="For a new account; prompted for when not given. An existing account keeps its own.",
)
@with_appcontext
def create_admin(username: str, email: str, password: str | None) -> None:
    """Create an administrator account, or make an existing account an administrator."""
    uow = unit_of_work()
    existing = uow.users.by_login(username)
    if existing is None:
        if password is None:
            password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
        try:
            user, _ = _ensure_user(username, email, password, admin=True)
        except FieldErrors as exc:
            raise click.ClickException(exc.message) from None
        click.echo(f"{user.username} is an administrator.")
        return
    if password is not None:
        click.echo(
            f"{existing.username} already exists: --password was ignored, its password is "
            "unchanged (it changes it at /account/password)."
        )
    try:
        with uow:
            promoted = users_admin.promote_by_operator(uow, CLI_CALLER, existing, email)
    except FieldErrors as exc:
        raise click.ClickException(exc.message) from None
    state = "is now" if promoted else "was already"
    click.echo(f"{existing.username} {state} an administrator.")


def _remember_demo_credentials(lines: list[str]) -> Path:
    path = Path(current_app.instance_path) / "demo-credentials.txt"
    return write_private(path, "\n".join(lines) + "\n", append=True)


@click.command("seed-demo")
@with_appcontext
def seed_demo() -> None:
    """Create the demo accounts and apps once; running it again changes nothing."""
    printed: list[str] = []
    for username, email, admin in (
        ("admin", "admin@example.com", True),
        ("demo", "demo@example.com", False),
    ):
        _user, password = _ensure_user(username, email, None, admin=admin)
        if password:
            printed.append(f"{'admin' if admin else 'user'} account: {username} / {password}")
    from idp.demo import seed_demo_clients

    with unit_of_work() as uow:
        printed.extend(seed_demo_clients(uow, tessera().catalogue))
    tessera().keystore.ensure_keys()  # a fresh instance can sign before its first request
    if printed:
        path = _remember_demo_credentials(printed)
        click.echo(f"Demo data created. These secrets are shown once (a copy is in {path}):")
        for line in printed:
            click.echo("  " + line)
    else:
        click.echo(
            "Demo data already present; nothing changed (credentials: instance/demo-credentials.txt)."
        )


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True)
@click.option(
    "--workers", default=None, type=int, help="Default: TESSERA_WORKERS, else one per core."
)
@click.option(
    "--access-log/--no-access-log",
    default=None,
    help="Default: on (TESSERA_ACCESS_LOG=0 turns it off).",
)
def serve(host: str, port: int, workers: int | None, access_log: bool | None) -> None:
    """Serve Tessera with granian (the production server; see idp/serving.py)."""
    from idp.serving import serve as run_server

    run_server(host=host, port=port, workers=workers, access_log=access_log)


@click.command("prune")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@with_appcontext
def prune(as_json: bool) -> None:
    """Delete expired codes, tokens, device codes, sessions, revocation events, account links
    and old delivered mail (run daily)."""
    from idp.domain.clock import utcnow
    from idp.services.maintenance import prune as prune_expired

    settings = tessera().settings
    report = prune_expired(
        unit_of_work(),
        utcnow(),
        settings.SESSION_IDLE_TTL,
        settings.SESSION_ABSOLUTE_TTL,
    )
    if as_json:
        click.echo(json.dumps(report.as_dict()))
    else:
        for name, count in report.as_dict().items():
            click.echo(f"{name.replace('_', ' ')}: {count} deleted")


# The app-level commands; idp.app adds them, with cli_clients' groups, to Flask's CLI.
COMMANDS = (create_admin, seed_demo, serve, prune)


class TesseraGroup(FlaskGroup):
    """Every command, Flask-Migrate's ``db`` included: an unreachable database is one line
    naming where it was looked for (never the password) and exit status 1, not a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SQLAlchemyError as exc:
            if not is_outage(exc):
                raise
            where, password = _database_address(ctx)
            reason = first_line(exc)
            if password:
                reason = reason.replace(password, "***")
            raise click.ClickException(f"the database{where} is unavailable: {reason}") from None


def _database_address(ctx: click.Context) -> tuple[str, str | None]:
    """(` at host:port/name`, the password to keep out of the message), from the loaded app."""
    try:
        uri = ctx.ensure_object(ScriptInfo).load_app().config["SQLALCHEMY_DATABASE_URI"]
        url = make_url(uri)
    except Exception:  # the app did not load: the error says enough
        return "", None
    if url.host is None:
        return f" {url.database}", None
    return f" at {url.host}:{url.port or ''}/{url.database or ''}", url.password


def make_cli() -> FlaskGroup:
    from idp import create_app

    return TesseraGroup(
        create_app=lambda: create_app(), help="Tessera identity provider operator commands."
    )


def main() -> None:
    sys.exit(make_cli().main())
