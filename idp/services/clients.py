"""App (client) administration, shared by the operator CLI, the portal and the management API."""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from idp.domain.clients import APP_TYPES, check_redirect_uris
from idp.domain.clock import utcnow
from idp.domain.credentials import digest_secret, generate_secret
from idp.domain.scopes import ScopeCatalogue
from idp.services import audit, revocation
from idp.services.context import Caller
from idp.storage.models import Client, ClientSecret


class ClientError(ValueError):
    """Readable reasons, keyed by field, for forms, the CLI and the JSON API alike."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))
        self.errors = errors


@dataclass
class ClientSpec:
    name: str
    app_type: str
    redirect_uris: list[str] = field(default_factory=list)
    post_logout_redirect_uris: list[str] = field(default_factory=list)
    scopes: list[str] = field(default_factory=list)
    description: str = ""
    homepage_url: str = ""
    privacy_url: str = ""
    tos_url: str = ""
    tier: str | None = None
    require_pkce: bool = True
    access_token_ttl: int | None = None
    refresh_token_ttl: int | None = None


def _check_url(value: str, label: str, errors: dict[str, list[str]], key: str) -> None:
    if value and not value.startswith("https://") and not value.startswith("http://127.0.0.1"):
        errors.setdefault(key, []).append(f"{label} must be an https URL.")
    if len(value) > 500:
        errors.setdefault(key, []).append(f"{label} is longer than 500 characters.")


def _check_redirects(spec: ClientSpec, errors: dict[str, list[str]]) -> None:
    app_type = APP_TYPES[spec.app_type]
    uris, bad = check_redirect_uris(spec.redirect_uris, spec.app_type)
    if bad:
        errors["redirect_uris"] = bad
    elif app_type.redirects and not uris:
        errors["redirect_uris"] = ["Register at least one redirect URI."]
    elif not app_type.redirects and uris:
        errors["redirect_uris"] = ["This app type does not use redirect URIs."]
    spec.redirect_uris = uris
    logout_uris, bad = check_redirect_uris(spec.post_logout_redirect_uris, spec.app_type)
    if bad:
        errors["post_logout_redirect_uris"] = bad
    spec.post_logout_redirect_uris = logout_uris


def _check_scopes(
    spec: ClientSpec,
    catalogue: ScopeCatalogue,
    allow_restricted: bool,
    errors: dict[str, list[str]],
) -> None:
    scopes = list(dict.fromkeys(spec.scopes))
    problems = []
    unknown = catalogue.unknown(scopes)
    if unknown:
        problems.append(f"Unknown scope(s): {', '.join(unknown)}.")
    restricted = catalogue.restricted(scopes)
    if restricted and not allow_restricted:
        problems.append(f"Restricted scope(s) need an admin's approval: {', '.join(restricted)}.")
    if spec.app_type == "service":
        user_scopes = [
            s for s in scopes if s in catalogue.scopes and not catalogue.scopes[s].machine
        ]
        if user_scopes:
            problems.append(
                f"A service acts for itself and cannot hold user scopes: {', '.join(user_scopes)}."
            )
    if problems:
        errors["scopes"] = problems
    spec.scopes = scopes


def _check_details(
    spec: ClientSpec, catalogue: ScopeCatalogue, errors: dict[str, list[str]]
) -> None:
    if spec.tier is not None and spec.tier not in catalogue.tiers:
        errors["tier"] = [
            f"Unknown tier {spec.tier!r}; choose one of: {', '.join(catalogue.tiers)}."
        ]
    for label, key in (
        ("Homepage", "homepage_url"),
        ("Privacy policy", "privacy_url"),
        ("Terms", "tos_url"),
    ):
        _check_url(getattr(spec, key).strip(), label, errors, key)
    if spec.access_token_ttl is not None and not 60 <= spec.access_token_ttl <= 86400:
        errors["access_token_ttl"] = [
            "An access token lifetime must be between 60 seconds and a day."
        ]
    if spec.refresh_token_ttl is not None and not 3600 <= spec.refresh_token_ttl <= 365 * 86400:
        errors["refresh_token_ttl"] = [
            "A refresh token lifetime must be between an hour and a year."
        ]
    if len(spec.description) > 2000:
        errors["description"] = ["Keep the description under 2000 characters."]


def validate_spec(
    spec: ClientSpec, catalogue: ScopeCatalogue, *, allow_restricted: bool
) -> ClientSpec:
    """The spec, normalised, or ClientError with every problem keyed by field."""
    errors: dict[str, list[str]] = {}
    spec.name = spec.name.strip()
    if not 1 <= len(spec.name) <= 100:
        errors["name"] = ["Give the app a name of 1 to 100 characters."]
    if spec.app_type not in APP_TYPES:
        errors["app_type"] = [f"Choose one of: {', '.join(APP_TYPES)}."]
        raise ClientError(errors)
    _check_redirects(spec, errors)
    _check_scopes(spec, catalogue, allow_restricted, errors)
    _check_details(spec, catalogue, errors)
    if errors:
        raise ClientError(errors)
    return spec


CLIENT_ID_ALPHABET = string.ascii_letters + string.digits


def new_client_id() -> str:
    """24 letters and digits: no "-" that a shell or CLI would read as an option, no "_" to misread."""
    return "".join(secrets.choice(CLIENT_ID_ALPHABET) for _ in range(24))


def create_client(
    uow: Any,
    catalogue: ScopeCatalogue,
    caller: Caller,
    spec: ClientSpec,
    *,
    owner_id: int | None,
    allow_restricted: bool = False,
) -> tuple[Client, str | None]:
    """The new app and its secret (shown once; None for public apps)."""
    spec = validate_spec(spec, catalogue, allow_restricted=allow_restricted)
    app_type = APP_TYPES[spec.app_type]
    client = Client(
        client_id=new_client_id(),
        name=spec.name,
        description=spec.description.strip(),
        homepage_url=spec.homepage_url.strip(),
        privacy_url=spec.privacy_url.strip(),
        tos_url=spec.tos_url.strip(),
        app_type=spec.app_type,
        redirect_uris=spec.redirect_uris,
        post_logout_redirect_uris=spec.post_logout_redirect_uris,
        grant_types=list(app_type.grant_types),
        allowed_scopes=spec.scopes,
        tier=spec.tier or catalogue.default_tier,
        require_pkce=spec.require_pkce or not app_type.confidential,
        access_token_ttl=spec.access_token_ttl,
        refresh_token_ttl=spec.refresh_token_ttl,
        owner_id=owner_id,
    )
    secret = None
    if app_type.confidential:
        secret = generate_secret()
        client.secrets.append(ClientSecret(digest=digest_secret(secret)))
    uow.clients.add(client)
    audit.record(
        uow,
        "client.created",
        caller,
        user_id=owner_id,
        client_id=client.client_id,
        name=client.name,
    )
    uow.commit()
    return client, secret


def rotate_secret(
    uow: Any, caller: Caller, client: Client, grace_seconds: int, now: datetime | None = None
) -> str:
    """A new secret, shown once; the current ones keep working for `grace_seconds`, then stop."""
    if not APP_TYPES[client.app_type].confidential:
        raise ClientError({"secret": ["Public apps have no secret."]})
    now = now or utcnow()
    ends = now + timedelta(seconds=grace_seconds)
    for old in client.secrets:
        if old.expires_at is None or old.expires_at > ends:
            old.expires_at = ends
    secret = generate_secret()
    client.secrets.append(ClientSecret(digest=digest_secret(secret), created_at=now))
    client.updated_at = now
    audit.record(
        uow,
        "client.secret_rotated",
        caller,
        client_id=client.client_id,
        grace_seconds=grace_seconds,
    )
    uow.commit()
    return secret


def revoke_old_secrets(
    uow: Any, caller: Caller, client: Client, now: datetime | None = None
) -> None:
    """End the grace period now: only the newest secret keeps working."""
    now = now or utcnow()
    newest = max(client.secrets, key=lambda s: (s.created_at, s.id or 0), default=None)
    for s in list(client.secrets):
        if s is not newest:
            client.secrets.remove(s)
    audit.record(uow, "client.old_secrets_revoked", caller, client_id=client.client_id)
    uow.commit()


def suspend(
    uow: Any,
    caller: Caller,
    client: Client,
    reason: str,
    now: datetime | None = None,
    *,
    user_id: int | None = None,
) -> None:
    """`user_id` is the admin who did it (None from the operator CLI)."""
    revocation.suspend_client(uow, client, reason.strip()[:500], now or utcnow())
    audit.record(
        uow,
        "client.suspended",
        caller,
        user_id=user_id,
        client_id=client.client_id,
        reason=reason[:500],
    )
    uow.commit()


def unsuspend(uow: Any, caller: Caller, client: Client, *, user_id: int | None = None) -> None:
    revocation.restore_client(uow, client)
    audit.record(uow, "client.unsuspended", caller, user_id=user_id, client_id=client.client_id)
    uow.commit()


def delete_client(
    uow: Any, window: revocation.RevocationWindow, caller: Caller, client: Client
) -> None:
    """Every grant and token of the app dies, and the feed tells resource servers so."""
    now = utcnow()
    for grant in uow.grants.active_for_client(client.id):
        revocation.revoke_grant(uow, window, grant, now)
    uow.revocations.append("client_suspended", client.client_id, None)
    audit.record(uow, "client.deleted", caller, client_id=client.client_id, name=client.name)
    uow.clients.delete(client)
    uow.commit()
