"""Operator commands for apps and signing keys: ``tessera clients ...`` and ``tessera keys ...``.

Thin over idp.services.clients and the KeyStore, so the CLI, the portal and the management API
share one definition of a valid app and one audit trail. Every command takes ``--json`` for
scripts (like ``hydra create client``); a secret is printed once, when it is made.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select

from idp.domain.clients import APP_TYPES
from idp.extensions import db
from idp.services import clients as client_service
from idp.services.context import Caller
from idp.storage.models import Client, SigningKey, User
from idp.storage.unit_of_work import SqlAlchemyUnitOfWork

CLI_CALLER = Caller(ip="cli", user_agent="tessera-cli")
DEFAULT_GRACE = 3600
# ClientError keys are ClientSpec fields; say which option to fix.
OPTION_OF_FIELD = {
    "app_type": "--type",
    "redirect_uris": "--redirect-uri",
    "post_logout_redirect_uris": "--post-logout-redirect-uri",
    "scopes": "--scope",
    "homepage_url": "--homepage",
}
json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print machine-readable JSON instead of text."
)


def _tessera() -> Any:
    return current_app.extensions["tessera"]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _emit(as_json: bool, data: Any, lines: Iterable[str]) -> None:
    if as_json:
        click.echo(json.dumps(data, indent=2, sort_keys=True))
    else:
        for line in lines:
            click.echo(line)


def _split_scopes(values: Iterable[str]) -> list[str]:
    """`--scope a --scope b` and `--scope "a b"` mean the same."""
    return [s for value in values for s in value.split()]


def _client_or_fail(uow: Any, client_id: str) -> Client:
    client = uow.clients.by_client_id(client_id)
    if client is None:
        raise click.ClickException(f"No app with client id {client_id!r}.")
    return client


def _owner_name(client: Client) -> str | None:
    if client.owner_id is None:
        return None
    owner = db.session.get(User, client.owner_id)
    return owner.username if owner else None


def client_as_dict(client: Client) -> dict[str, Any]:
    """What an operator may see of an app: never a secret digest."""
    return {
        "client_id": client.client_id,
        "name": client.name,
        "app_type": client.app_type,
        "confidential": APP_TYPES[client.app_type].confidential,
        "redirect_uris": list(client.redirect_uris or []),
        "post_logout_redirect_uris": list(client.post_logout_redirect_uris or []),
        "grant_types": list(client.grant_types or []),
        "scopes": list(client.allowed_scopes or []),
        "tier": client.tier,
        "require_pkce": client.require_pkce,
        "access_token_ttl": client.access_token_ttl,
        "refresh_token_ttl": client.refresh_token_ttl,
        "owner": _owner_name(client),
        "description": client.description,
        "homepage_url": client.homepage_url,
        "suspended": client.suspended_at is not None,
        "suspended_at": _iso(client.suspended_at),
        "suspended_reason": client.suspended_reason or None,
        "created_at": _iso(client.created_at),
        "secrets": [
            {"created_at": _iso(s.created_at), "expires_at": _iso(s.expires_at)}
            for s in sorted(client.secrets, key=lambda s: (s.created_at, s.id or 0))
        ],
    }


def _describe(data: dict[str, Any]) -> list[str]:
    state = f"suspended ({data['suspended_reason'] or 'no reason given'})"
    rows = [
        ("client_id", data["client_id"]),
        ("name", data["name"]),
        ("type", data["app_type"] + (" (confidential)" if data["confidential"] else " (public)")),
        ("status", state if data["suspended"] else "active"),
        ("owner", data["owner"] or "-"),
        ("scopes", " ".join(data["scopes"]) or "-"),
        ("tier", data["tier"]),
        ("grant types", " ".join(data["grant_types"])),
        ("redirect URIs", " ".join(data["redirect_uris"]) or "-"),
        ("logout URIs", " ".join(data["post_logout_redirect_uris"]) or "-"),
        ("PKCE required", "yes" if data["require_pkce"] else "no"),
        ("access token TTL", data["access_token_ttl"] or "default"),
        ("refresh token TTL", data["refresh_token_ttl"] or "default"),
        ("homepage", data["homepage_url"] or "-"),
        ("created", data["created_at"]),
    ]
    lines = [f"{label + ':':<19}{value}" for label, value in rows]
    for s in data["secrets"]:
        until = f"expires {s['expires_at']}" if s["expires_at"] else "no expiry"
        lines.append(f"{'secret:':<19}created {s['created_at']}, {until}")
    return lines


@click.group("clients")
def clients_group() -> None:
    """Register and administer apps (OAuth clients)."""


@clients_group.command("create")
@click.option("--name", required=True, help="Shown to users on the consent screen.")
@click.option(
    "--type", "app_type", required=True, type=click.Choice(list(APP_TYPES)), help="The app type."
)
@click.option("--redirect-uri", "redirect_uris", multiple=True, help="Repeat for several.")
@click.option("--post-logout-redirect-uri", "logout_uris", multiple=True, help="Repeatable.")
@click.option("--scope", "scopes", multiple=True, help="Repeatable or space-separated.")
@click.option("--tier", default=None, help="Rate-limit tier (scopes.yaml); default tier if unset.")
@click.option("--no-pkce", is_flag=True, help="Do not require PKCE (confidential web apps only).")
@click.option("--access-token-ttl", type=click.IntRange(min=1), default=None, help="Seconds.")
@click.option("--refresh-token-ttl", type=click.IntRange(min=1), default=None, help="Seconds.")
@click.option("--owner", default=None, help="Username of the account that owns the app.")
@click.option("--description", default="")
@click.option("--homepage", default="", help="https URL of the app's homepage.")
@json_option
@with_appcontext
def create(
    name: str,
    app_type: str,
    redirect_uris: tuple[str, ...],
    logout_uris: tuple[str, ...],
    scopes: tuple[str, ...],
    tier: str | None,
    no_pkce: bool,
    access_token_ttl: int | None,
    refresh_token_ttl: int | None,
    owner: str | None,
    description: str,
    homepage: str,
    as_json: bool,
) -> None:
    """Register an app; its secret (confidential apps) is printed this once."""
    if no_pkce and app_type != "web":
        raise click.UsageError(
            "--no-pkce is only for confidential web apps; public apps need PKCE."
        )
    uow = SqlAlchemyUnitOfWork()
    owner_id = None
    if owner is not None:
        user = uow.users.by_login(owner)
        if user is None:
            raise click.ClickException(f"No account named {owner!r} (--owner).")
        owner_id = user.id
    spec = client_service.ClientSpec(
        name=name,
        app_type=app_type,
        redirect_uris=list(redirect_uris),
        post_logout_redirect_uris=list(logout_uris),
        scopes=_split_scopes(scopes),
        description=description,
        homepage_url=homepage,
        tier=tier,
        require_pkce=not no_pkce,
        access_token_ttl=access_token_ttl,
        refresh_token_ttl=refresh_token_ttl,
    )
    try:
        # An operator is an administrator: restricted scopes need no separate approval.
        client, secret = client_service.create_client(
            uow, _tessera().catalogue, CLI_CALLER, spec, owner_id=owner_id, allow_restricted=True
        )
    except client_service.ClientError as exc:
        uow.rollback()
        raise click.ClickException(_error_text(exc)) from None
    data = {**client_as_dict(client), "client_secret": secret}
    lines = [f"Created {client.app_type} app {client.name!r}.", *_describe(data)]
    if secret:
        lines.append(f"{'client_secret:':<19}{secret}")
        lines.append("The secret is shown this once; store it now.")
    _emit(as_json, data, lines)


def _error_text(exc: client_service.ClientError) -> str:
    return "\n".join(
        f"{OPTION_OF_FIELD.get(key, '--' + key.replace('_', '-'))}: {message}"
        for key, messages in exc.errors.items()
        for message in messages
    )


@clients_group.command("list")
@json_option
@with_appcontext
def list_clients(as_json: bool) -> None:
    """Every registered app, oldest first."""
    rows = [client_as_dict(c) for c in SqlAlchemyUnitOfWork().clients.all()]
    lines = [
        f"{r['client_id']:<26} {r['app_type']:<8} {'suspended' if r['suspended'] else 'active':<10}"
        f"{r['tier']:<10}{r['name']}"
        for r in rows
    ]
    _emit(as_json, rows, lines or ["No apps registered."])


@clients_group.command("show")
@click.argument("client_id")
@json_option
@with_appcontext
def show(client_id: str, as_json: bool) -> None:
    """One app's registration (secrets appear only as dates)."""
    data = client_as_dict(_client_or_fail(SqlAlchemyUnitOfWork(), client_id))
    _emit(as_json, data, _describe(data))


@clients_group.command("rotate-secret")
@click.argument("client_id")
@click.option(
    "--grace",
    type=click.IntRange(min=0, max=30 * 86400),
    default=None,
    help=f"Seconds the current secret keeps working (default {DEFAULT_GRACE}; 0 ends it now).",
)
@click.option(
    "--revoke-old",
    is_flag=True,
    help="Make no new secret: end the grace period now, keeping only the newest secret.",
)
@json_option
@with_appcontext
def rotate_secret(client_id: str, grace: int | None, revoke_old: bool, as_json: bool) -> None:
    """Issue a new secret (printed once); the old one works for --grace seconds."""
    if revoke_old and grace is not None:
        raise click.UsageError("--revoke-old ends the grace period; it takes no --grace.")
    uow = SqlAlchemyUnitOfWork()
    client = _client_or_fail(uow, client_id)
    if not APP_TYPES[client.app_type].confidential:
        raise click.ClickException(f"{client.name!r} is a public {client.app_type} app: no secret.")
    if revoke_old:
        client_service.revoke_old_secrets(uow, CLI_CALLER, client)
        _emit(
            as_json,
            {"client_id": client.client_id, "secrets": len(client.secrets)},
            [f"Only the newest secret of {client.name!r} works now."],
        )
        return
    grace = DEFAULT_GRACE if grace is None else grace
    secret = client_service.rotate_secret(uow, CLI_CALLER, client, grace)
    old_until = max((s.expires_at for s in client.secrets if s.expires_at), default=None)
    data = {
        "client_id": client.client_id,
        "client_secret": secret,
        "grace_seconds": grace,
        "old_secrets_expire_at": _iso(old_until),
    }
    _emit(
        as_json,
        data,
        [
            f"New secret for {client.name!r} ({client.client_id}):",
            f"  client_secret: {secret}",
            "The secret is shown this once; store it now.",
            f"The previous secret works until {_iso(old_until)} ({grace} seconds)."
            if old_until
            else "There was no previous secret.",
        ],
    )


@clients_group.command("suspend")
@click.argument("client_id")
@click.option("--reason", required=True, help="Recorded in the audit log and shown to admins.")
@json_option
@with_appcontext
def suspend(client_id: str, reason: str, as_json: bool) -> None:
    """Stop an app at once: refresh tokens die; resource servers learn it from the feed."""
    if not reason.strip():
        raise click.UsageError("--reason must not be empty.")
    uow = SqlAlchemyUnitOfWork()
    client = _client_or_fail(uow, client_id)
    if client.suspended_at is not None:
        raise click.ClickException(f"{client.name!r} is already suspended.")
    client_service.suspend(uow, CLI_CALLER, client, reason)
    _emit(
        as_json,
        client_as_dict(client),
        [f"Suspended {client.name!r} ({client.client_id}): {client.suspended_reason}"],
    )


@clients_group.command("unsuspend")
@click.argument("client_id")
@json_option
@with_appcontext
def unsuspend(client_id: str, as_json: bool) -> None:
    """Let a suspended app authenticate again (its revoked refresh tokens stay revoked)."""
    uow = SqlAlchemyUnitOfWork()
    client = _client_or_fail(uow, client_id)
    if client.suspended_at is None:
        raise click.ClickException(f"{client.name!r} is not suspended.")
    client_service.unsuspend(uow, CLI_CALLER, client)
    _emit(as_json, client_as_dict(client), [f"{client.name!r} ({client.client_id}) is active."])


@clients_group.command("delete")
@click.argument("client_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@json_option
@with_appcontext
def delete(client_id: str, yes: bool, as_json: bool) -> None:
    """Delete an app: every grant and token it holds is revoked."""
    uow = SqlAlchemyUnitOfWork()
    client = _client_or_fail(uow, client_id)
    name = client.name
    if not yes:
        click.confirm(f"Delete {name!r} ({client_id}) and revoke all its grants?", abort=True)
    client_service.delete_client(uow, _tessera().revocation_window, CLI_CALLER, client)
    _emit(as_json, {"client_id": client_id, "deleted": True}, [f"Deleted {name!r} ({client_id})."])


@click.group("keys")
def keys_group() -> None:
    """Signing keys: list them, rotate them."""


def _key_as_dict(row: SigningKey) -> dict[str, Any]:
    return {
        "kid": row.kid,
        "alg": row.alg,
        "created": _iso(row.created_at),
        "retired": _iso(row.retired_at),
        "unpublish": _iso(row.unpublish_at),
        "active": row.retired_at is None,
    }


@keys_group.command("list")
@json_option
@with_appcontext
def list_keys(as_json: bool) -> None:
    """Every signing key: active ones sign; retired ones stay in the JWKS until unpublished."""
    rows = [
        _key_as_dict(k)
        for k in db.session.scalars(
            select(SigningKey).order_by(SigningKey.created_at, SigningKey.id)
        )
    ]
    lines = [
        f"{r['kid']:<44} {r['alg']:<6} {'active' if r['active'] else 'retired':<8} "
        f"created {r['created']}"
        + (f", retired {r['retired']}, published until {r['unpublish']}" if r["retired"] else "")
        for r in rows
    ]
    _emit(as_json, rows, lines or ["No signing keys yet; run `tessera keys rotate`."])


@keys_group.command("rotate")
@click.option(
    "--alg",
    "algs",
    multiple=True,
    help="Only this algorithm (repeatable); default: every algorithm Tessera signs with.",
)
@json_option
@with_appcontext
def rotate_keys(algs: tuple[str, ...], as_json: bool) -> None:
    """New signing keys; the old ones stay published until every token they signed expired."""
    from idp.app import signing_algorithms

    known = signing_algorithms(_tessera().settings)
    unknown = sorted(set(algs) - known)
    if unknown:
        raise click.UsageError(
            f"Unknown --alg {', '.join(unknown)}; Tessera signs with {', '.join(sorted(known))}."
        )
    new = _tessera().keystore.rotate(set(algs) or None)
    rows = [_key_as_dict(k) for k in new]
    _emit(
        as_json,
        rows,
        [f"New {r['alg']} key {r['kid']} signs from now on." for r in rows]
        + ["Retired keys stay in the JWKS until the tokens they signed have expired."],
    )
