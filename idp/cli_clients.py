"""Operator commands for apps and signing keys: ``tessera clients ...`` and ``tessera keys ...``.

Thin over idp.services.apps and the KeyStore, so the CLI, the portal and the management API
share one definition of a valid app and one audit trail. Every command takes ``--json`` for
scripts (like ``hydra create client``); a secret is printed once, when it is made.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import click
from flask.cli import with_appcontext

from idp.cli import CLI_CALLER, FieldErrorsGroup, tessera, unit_of_work
from idp.domain.clients import APP_TYPES
from idp.domain.clock import utcnow
from idp.services import apps
from idp.services.app_admin import registration
from idp.services.app_specs import ClientSpec
from idp.services.ports import Record, UnitOfWork

DEFAULT_GRACE = 3600
json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print machine-readable JSON instead of text."
)


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


def _client_or_fail(uow: UnitOfWork, client_id: str) -> Record:
    client = uow.clients.by_client_id(client_id)
    if client is None:
        raise click.ClickException(f"No app with client id {client_id!r}.")
    return client


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


def _owner_id(uow: UnitOfWork, owner: str | None) -> int | None:
    if owner is None:
        return None
    user = uow.users.by_login(owner)
    if user is None:
        raise click.ClickException(f"No account named {owner!r} (--owner).")
    return user.id


@click.group("clients", cls=FieldErrorsGroup)
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
    uow = unit_of_work()
    owner_id = _owner_id(uow, owner)
    spec = ClientSpec(
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
    with uow:
        # An operator is an administrator: restricted scopes need no separate approval.
        client, secret = apps.create_client(
            uow, tessera().catalogue, CLI_CALLER, spec, owner_id=owner_id, allow_restricted=True
        )
    data = {**registration(uow, client), "client_secret": secret}
    lines = [f"Created {client.app_type} app {client.name!r}.", *_describe(data)]
    if secret:
        lines.append(f"{'client_secret:':<19}{secret}")
        lines.append("The secret is shown this once; store it now.")
    _emit(as_json, data, lines)


@clients_group.command("list")
@json_option
@with_appcontext
def list_clients(as_json: bool) -> None:
    """Every registered app, oldest first."""
    uow = unit_of_work()
    rows = [registration(uow, c) for c in uow.clients.all()]
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
    uow = unit_of_work()
    data = registration(uow, _client_or_fail(uow, client_id))
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
    uow = unit_of_work()
    client = _client_or_fail(uow, client_id)
    if not APP_TYPES[client.app_type].confidential:
        raise click.ClickException(f"{client.name!r} is a public {client.app_type} app: no secret.")
    if revoke_old:
        with uow:
            apps.revoke_old_secrets(uow, CLI_CALLER, client)
        _emit(
            as_json,
            {"client_id": client.client_id, "secrets": len(client.secrets)},
            [f"Only the newest secret of {client.name!r} works now."],
        )
        return
    grace = DEFAULT_GRACE if grace is None else grace
    with uow:
        secret = apps.rotate_secret(uow, CLI_CALLER, client, grace)
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
    uow = unit_of_work()
    client = _client_or_fail(uow, client_id)
    if client.suspended_at is not None:
        raise click.ClickException(f"{client.name!r} is already suspended.")
    with uow:
        apps.suspend(uow, CLI_CALLER, client, reason)
    _emit(
        as_json,
        registration(uow, client),
        [f"Suspended {client.name!r} ({client.client_id}): {client.suspended_reason}"],
    )


@clients_group.command("unsuspend")
@click.argument("client_id")
@json_option
@with_appcontext
def unsuspend(client_id: str, as_json: bool) -> None:
    """Let a suspended app authenticate again (its revoked refresh tokens stay revoked)."""
    uow = unit_of_work()
    client = _client_or_fail(uow, client_id)
    if client.suspended_at is None:
        raise click.ClickException(f"{client.name!r} is not suspended.")
    with uow:
        apps.unsuspend(uow, CLI_CALLER, client, tessera().revocation_window)
    _emit(as_json, registration(uow, client), [f"{client.name!r} ({client.client_id}) is active."])


@clients_group.command("delete")
@click.argument("client_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@json_option
@with_appcontext
def delete(client_id: str, yes: bool, as_json: bool) -> None:
    """Delete an app: every grant and token it holds is revoked."""
    uow = unit_of_work()
    client = _client_or_fail(uow, client_id)
    name = client.name
    if not yes:
        click.confirm(f"Delete {name!r} ({client_id}) and revoke all its grants?", abort=True)
    with uow:
        apps.delete_client(uow, tessera().revocation_window, CLI_CALLER, client)
    _emit(as_json, {"client_id": client_id, "deleted": True}, [f"Deleted {name!r} ({client_id})."])


@click.group("keys")
def keys_group() -> None:
    """Signing keys: list them, rotate them."""


def _key_state(row: Record, now: datetime) -> str:
    if row.retired_at is not None and row.retired_at <= now:
        return "retired"
    if row.activates_at is not None and row.activates_at > now:
        return "next"
    return "active"


def _key_as_dict(row: Record, now: datetime) -> dict[str, Any]:
    state = _key_state(row, now)
    return {
        "kid": row.kid,
        "alg": row.alg,
        "state": state,
        "created": _iso(row.created_at),
        "activates": _iso(row.activates_at or row.created_at),
        "retired": _iso(row.retired_at),
        "unpublish": _iso(row.unpublish_at),
        "active": state == "active",
    }


def _key_line(r: dict[str, Any]) -> str:
    line = f"{r['kid']:<44} {r['alg']:<6} {r['state']:<8} activates {r['activates']}"
    if r["retired"]:
        line += f", retires {r['retired']}, published until {r['unpublish']}"
    return line


@keys_group.command("list")
@json_option
@with_appcontext
def list_keys(as_json: bool) -> None:
    """Every signing key: next ones are published and sign from their activation time; active
    ones sign; retired ones stay in the JWKS until unpublished."""
    now = utcnow()
    rows = [_key_as_dict(k, now) for k in unit_of_work().signing_keys.all()]
    lines = [_key_line(r) for r in rows]
    _emit(as_json, rows, lines or ["No signing keys yet; run `tessera keys rotate --now`."])


@keys_group.command("rotate")
@click.option(
    "--alg",
    "algs",
    multiple=True,
    help="Only this algorithm (repeatable); default: every algorithm Tessera signs with.",
)
@click.option(
    "--now",
    "immediate",
    is_flag=True,
    help="Emergency only: sign with the new keys at once. Resource servers that cached the "
    "JWKS answer `401 unknown key` to new tokens until they refetch it.",
)
@json_option
@with_appcontext
def rotate_keys(algs: tuple[str, ...], immediate: bool, as_json: bool) -> None:
    """New signing keys, published now, signing after TESSERA_KEY_PUBLICATION_DELAY."""
    known = tessera().keystore.algorithms
    unknown = sorted(set(algs) - known)
    if unknown:
        raise click.UsageError(
            f"Unknown --alg {', '.join(unknown)}; Tessera signs with {', '.join(sorted(known))}."
        )
    now = utcnow()
    new = tessera().keystore.rotate(set(algs) or None, now=now, immediate=immediate)
    rows = [_key_as_dict(k, now) for k in new]
    _emit(
        as_json,
        rows,
        [
            f"New {r['alg']} key {r['kid']} is published now and signs from {r['activates']}."
            for r in rows
        ]
        + ["The keys it replaces sign until then and stay in the JWKS until their tokens expire."],
    )
