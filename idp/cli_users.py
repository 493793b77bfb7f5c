"""`tessera users ...`: operator commands about accounts.

The group lives here so that other account commands (`tessera users import`) join it.
"""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from idp.cli import CLI_CALLER, FieldErrorsGroup, tessera, unit_of_work
from idp.services import password_reset
from idp.services.mail import Links


@click.group("users", cls=FieldErrorsGroup, help="Manage user accounts.")
def users_group() -> None:
    pass


@users_group.command("reset-password")
@click.argument("username")
@with_appcontext
def reset_password(username: str) -> None:
    """Print a one-time link that lets USERNAME choose a new password.

    The link works once, for TESSERA_PASSWORD_RESET_TTL seconds (30 min by default); nothing
    is mailed. Hand it to the user by a channel you trust.
    """
    settings = tessera().settings
    uow = unit_of_work()
    user = uow.users.by_login(username)
    if user is None:
        raise click.ClickException(f"no account named {username!r}")
    if user.disabled_at is not None:
        raise click.ClickException(f"{user.username} is disabled: enable it first")
    policy = password_reset.ResetPolicy(Links(settings.ISSUER), settings.PASSWORD_RESET_TTL)
    with uow:
        link = password_reset.operator_link(uow, policy, CLI_CALLER, user)
    minutes = settings.PASSWORD_RESET_TTL // 60
    click.echo(f"Password reset link for {user.username} (valid {minutes} minutes, once):")
    click.echo(link)
