"""App management: what a developer, an admin or an operator does to an app's registration.

The portal, the management API and the CLI all come here, so they share one definition of a
valid app, one audit trail and one transaction per use case. A developer sees only the apps
they own or are a member of (`app_for_user`): another developer's client_id is
indistinguishable from one that does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from idp.domain.clients import APP_TYPES
from idp.domain.clock import utcnow
from idp.domain.credentials import digest_secret, generate_secret
from idp.domain.scopes import ScopeCatalogue
from idp.errors import FieldErrors
from idp.services import access_requests, audit, logos, revocation
from idp.services.app_specs import ClientSpec, new_client_id, validate_spec
from idp.services.context import Caller
from idp.services.ports import Record, UnitOfWork

OWNER, DEVELOPER = "owner", "developer"
ROLES = (OWNER, DEVELOPER)
EDITABLE = (
    "name",
    "description",
    "homepage_url",
    "privacy_url",
    "tos_url",
    "redirect_uris",
    "post_logout_redirect_uris",
    "scopes",
)


@dataclass(frozen=True)
class MyApp:
    """An app as one developer sees it: the row and the developer's role on it."""

    client: Record
    role: str

    @property
    def is_owner(self) -> bool:
        return self.role == OWNER


@dataclass(frozen=True)
class ScopeRequest:
    """Restricted scopes asked for along with a new app, and why."""

    scopes: list[str]
    justification: str


def _role(uow: UnitOfWork, client: Record, user_id: int) -> str:
    if client.owner_id == user_id:
        return OWNER
    return uow.members.role(client.id, user_id) or DEVELOPER


def apps_for_user(uow: UnitOfWork, user_id: int) -> list[MyApp]:
    return [MyApp(c, _role(uow, c, user_id)) for c in uow.clients.visible_to(user_id)]


def app_for_user(uow: UnitOfWork, user_id: int, client_id: str) -> MyApp | None:
    if not isinstance(client_id, str) or len(client_id) > 64:
        return None
    client = uow.clients.visible_by_client_id(user_id, client_id)
    return MyApp(client, _role(uow, client, user_id)) if client is not None else None


def _checked(
    catalogue: ScopeCatalogue,
    spec: ClientSpec,
    allow_restricted: bool,
    logo: bytes | None,
    scope_request: ScopeRequest | None,
) -> tuple[bytes | None, list[str]]:
    """Every problem of a new app at once: the spec, the logo and the scope request."""
    errors: dict[str, list[str]] = {}
    png, wanted = None, []
    try:
        validate_spec(spec, catalogue, allow_restricted=allow_restricted)
    except FieldErrors as exc:
        errors.update(exc.errors)
    try:
        png = logos.normalise_logo(logo) if logo else None
    except FieldErrors as exc:
        errors.update(exc.errors)
    if scope_request is not None and scope_request.scopes:
        try:
            wanted = access_requests.wanted_scopes(
                catalogue, spec.app_type, spec.scopes, [], scope_request.scopes
            )
        except FieldErrors as exc:
            errors["restricted_scopes"] = exc.errors["scopes"]
        try:
            access_requests.justification(scope_request.justification)
        except FieldErrors as exc:
            errors.update(exc.errors)
    if errors:
        raise FieldErrors(errors)
    return png, wanted


def create_client(
    uow: UnitOfWork,
    catalogue: ScopeCatalogue,
    caller: Caller,
    spec: ClientSpec,
    *,
    owner_id: int | None,
    allow_restricted: bool = False,
    logo: bytes | None = None,
    scope_request: ScopeRequest | None = None,
) -> tuple[Record, str | None]:
    """The new app and its secret (shown once; None for public apps), with its logo and its
    request for restricted scopes: all saved together, or nothing."""
    png, wanted = _checked(catalogue, spec, allow_restricted, logo, scope_request)
    client = uow.clients.create(**_new_fields(catalogue, spec, owner_id))
    secret = None
    if APP_TYPES[spec.app_type].confidential:
        secret = generate_secret()
        uow.clients.add_secret(client, digest_secret(secret), last4=secret[-4:])
    audit.record(
        uow, "client.created", caller, user_id=owner_id, client_id=client.client_id,
        name=client.name,
    )  # fmt: skip
    if png:
        logos.store(uow, caller, client, owner_id, png)
    if wanted:
        why = scope_request.justification.strip()
        access_requests.file(uow, caller, client, owner_id, why, kind="scopes", scopes=wanted)
    uow.commit()
    return client, secret


def _new_fields(catalogue: ScopeCatalogue, spec: ClientSpec, owner_id: int | None) -> dict:
    app_type = APP_TYPES[spec.app_type]
    return dict(
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


def _details(client: Record) -> dict[str, object]:
    return {
        "name": client.name,
        "description": client.description,
        "homepage_url": client.homepage_url,
        "privacy_url": client.privacy_url,
        "tos_url": client.tos_url,
        "redirect_uris": list(client.redirect_uris or []),
        "post_logout_redirect_uris": list(client.post_logout_redirect_uris or []),
        "scopes": list(client.allowed_scopes or []),
    }


def _checked_changes(
    catalogue: ScopeCatalogue, client: Record, changes: dict, logo: bytes | None
) -> tuple[ClientSpec, bytes | None]:
    errors = {k: ["This field cannot be changed."] for k in sorted(set(changes) - set(EDITABLE))}
    if errors:
        raise FieldErrors(errors)
    spec = ClientSpec(app_type=client.app_type, **{**_details(client), **changes})
    held = client.allowed_scopes or []
    new_restricted = [s for s in catalogue.restricted(spec.scopes) if s not in held]
    try:
        png, _ = _checked(catalogue, spec, True, logo, None)
    except FieldErrors as exc:
        errors, png = exc.errors, None
    if new_restricted:
        errors.setdefault("scopes", []).append(
            f"Restricted scope(s) need an admin's approval; request access: "
            f"{', '.join(new_restricted)}."
        )
    if errors:
        raise FieldErrors(errors)
    return spec, png


def update_app(
    uow: UnitOfWork,
    catalogue: ScopeCatalogue,
    caller: Caller,
    client: Record,
    user_id: int,
    *,
    logo: bytes | None = None,
    **changes: object,
) -> Record:
    """Change an app's details, redirect URIs, scopes or logo; nothing is saved when any fails.

    Restricted scopes the app already holds may stay; new ones need an access request.
    The app type is fixed at creation (it decides confidentiality and the grant types).
    """
    before = _details(client)
    spec, png = _checked_changes(catalogue, client, changes, logo)
    client.name = spec.name
    for key in ("description", "homepage_url", "privacy_url", "tos_url"):
        setattr(client, key, getattr(spec, key).strip())
    client.redirect_uris = spec.redirect_uris
    client.post_logout_redirect_uris = spec.post_logout_redirect_uris
    client.allowed_scopes = spec.scopes
    client.updated_at = utcnow()
    changed = sorted(k for k in changes if {**before, **changes}[k] != before[k])
    audit.record(
        uow, "client.updated", caller, user_id=user_id, client_id=client.client_id, fields=changed
    )
    if png:
        logos.store(uow, caller, client, user_id, png)
    uow.commit()
    return client


def rotate_secret(
    uow: UnitOfWork, caller: Caller, client: Record, grace_seconds: int, now: datetime | None = None
) -> str:
    """A new secret, shown once; the current ones keep working for `grace_seconds`, then stop."""
    if not APP_TYPES[client.app_type].confidential:
        raise FieldErrors("Public apps have no secret.", "secret")
    now = now or utcnow()
    ends = now + timedelta(seconds=grace_seconds)
    for old in client.secrets:
        if old.expires_at is None or old.expires_at > ends:
            old.expires_at = ends
    secret = generate_secret()
    uow.clients.add_secret(client, digest_secret(secret), created_at=now, last4=secret[-4:])
    client.updated_at = now
    audit.record(
        uow, "client.secret_rotated", caller, client_id=client.client_id,
        grace_seconds=grace_seconds,
    )  # fmt: skip
    uow.commit()
    return secret


def revoke_old_secrets(uow: UnitOfWork, caller: Caller, client: Record) -> None:
    """End the grace period now: only the newest secret keeps working."""
    newest = max(client.secrets, key=lambda s: (s.created_at, s.id or 0), default=None)
    for s in list(client.secrets):
        if s is not newest:
            uow.clients.remove_secret(client, s)
    audit.record(uow, "client.old_secrets_revoked", caller, client_id=client.client_id)
    uow.commit()


def suspend(
    uow: UnitOfWork,
    caller: Caller,
    client: Record,
    reason: str,
    now: datetime | None = None,
    *,
    user_id: int | None = None,
) -> None:
    """`user_id` is the admin who did it (None from the operator CLI)."""
    revocation.suspend_client(uow, client, reason.strip()[:500], now or utcnow())
    audit.record(
        uow, "client.suspended", caller, user_id=user_id, client_id=client.client_id,
        reason=reason[:500],
    )  # fmt: skip
    uow.commit()


def unsuspend(
    uow: UnitOfWork,
    caller: Caller,
    client: Record,
    window: revocation.RevocationWindow,
    *,
    user_id: int | None = None,
) -> None:
    """Tokens issued before now stay revoked: unsuspending never brings them back."""
    revocation.restore_client(uow, window, client, utcnow())
    audit.record(uow, "client.unsuspended", caller, user_id=user_id, client_id=client.client_id)
    uow.commit()


def delete_client(
    uow: UnitOfWork, window: revocation.RevocationWindow, caller: Caller, client: Record
) -> None:
    """Every grant and token of the app dies, and the feed tells resource servers so."""
    remove_client(uow, window, caller, client, utcnow())
    uow.commit()


def remove_client(
    uow: UnitOfWork,
    window: revocation.RevocationWindow,
    caller: Caller,
    client: Record,
    now: datetime,
    **audit_data: object,
) -> None:
    """delete_client's work without the commit, for a use case that deletes apps among other
    things in one transaction (an account's deletion)."""
    for grant in uow.grants.active_for_client(client.id):
        revocation.revoke_grant(uow, window, grant, now)
    uow.revocations.append("client_suspended", client.client_id, None)
    audit.record(
        uow, "client.deleted", caller, client_id=client.client_id, name=client.name, **audit_data
    )
    uow.clients.delete(client)
