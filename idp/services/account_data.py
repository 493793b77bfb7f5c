"""A user's own data: exporting it, and deleting the account.

Deleting erases the personal data and keeps only what other records need: the row stays (so its
`sub` is never issued again and what refers to it stays consistent) with its username, e-mail
and password hash replaced; every grant is revoked through the revocation service, so resource
servers are told; sessions end. The audit log keeps the account's history under a pseudonym, a
keyed HMAC of the user id: the operator who holds the key can still link the events of one
former account (an investigation), nobody else can tell whose they were.

Apps the user owns: when the app has a co-owner (a member with the owner role), ownership passes
to the longest-standing one; otherwise the app is deleted as its owner would delete it (every
user's grant revoked, its secrets gone). templates/account/delete.html says so before it happens.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from idp.domain.clock import utcnow
from idp.domain.scopes import ScopeCatalogue
from idp.errors import FieldErrors
from idp.services import apps, audit, connected_apps, login_sessions, revocation
from idp.services.context import Caller
from idp.services.ports import Record, UnitOfWork

# Data keys of audit events that name a person; dropped when the account is deleted.
IDENTIFYING = frozenset({"username", "login", "email", "target_username", "member", "session_ip"})
DELETED_DOMAIN = "deleted.invalid"  # RFC 2606: never deliverable
EXPORT_EVENT_LIMIT = 10_000
_PSEUDONYMIZE_BATCH = 500


@dataclass(frozen=True)
class AppFate:
    client_id: str
    name: str
    new_owner: str | None  # None: the app is deleted
    new_owner_id: int | None = None


@dataclass
class Deletion:
    pseudonym: str
    grants_revoked: int = 0
    apps: list[AppFate] = field(default_factory=list)


def pseudonym(key: bytes, user_id: int) -> str:
    return hmac.new(key, f"user:{user_id}".encode(), hashlib.sha256).hexdigest()[:32]


def fate_of_apps(uow: UnitOfWork, user: Record) -> list[AppFate]:
    """What deleting the account would do to each app it owns (shown before, done by delete)."""
    fates = []
    for client in uow.clients.owned_by(user.id):
        co_owners = [
            member
            for member, role in uow.members.of_client(client.id)
            if role == apps.OWNER and member.id != user.id and member.disabled_at is None
        ]
        heir = min(co_owners, key=lambda m: m.id, default=None)
        fates.append(
            AppFate(client.client_id, client.name, heir.username, heir.id)
            if heir
            else AppFate(client.client_id, client.name, None)
        )
    return fates


def delete_account(
    uow: UnitOfWork,
    window: revocation.RevocationWindow,
    caller: Caller,
    user: Record,
    *,
    pseudonym_key: bytes,
    now: datetime | None = None,
) -> Deletion:
    """Erase the account (the caller has confirmed the user's identity first)."""
    if user.is_admin:
        raise FieldErrors(
            "An administrator account cannot be deleted: ask another administrator to remove "
            "your admin role first."
        )
    now = now or utcnow()
    result = Deletion(pseudonym(pseudonym_key, user.id))
    for grant in uow.grants.active_for_user(user.id):
        revocation.revoke_grant(uow, window, grant, now)
        result.grants_revoked += 1
    result.apps = _settle_apps(uow, window, caller, user, now)
    _leave_apps(uow, user)
    uow.sessions.delete_for_user(user.id)
    _pseudonymize_audit(uow, user.id, result.pseudonym)
    _erase(user, now)
    # No IP or user agent: they would name the person the pseudonym stands for.
    audit.record(
        uow, "account.deleted", Caller(), pseudonym=result.pseudonym,
        grants_revoked=result.grants_revoked,
        apps_deleted=sum(1 for a in result.apps if a.new_owner is None),
        apps_transferred=sum(1 for a in result.apps if a.new_owner is not None),
    )  # fmt: skip
    uow.commit()
    return result


def _settle_apps(
    uow: UnitOfWork,
    window: revocation.RevocationWindow,
    caller: Caller,
    user: Record,
    now: datetime,
) -> list[AppFate]:
    fates = fate_of_apps(uow, user)
    by_client_id = {c.client_id: c for c in uow.clients.owned_by(user.id)}
    for fate in fates:
        client = by_client_id[fate.client_id]
        if fate.new_owner is None:
            apps.remove_client(uow, window, Caller(), client, now, reason="owner deleted account")
            continue
        client.owner_id = fate.new_owner_id
        client.updated_at = now
        uow.members.remove(client.id, fate.new_owner_id)  # the owner is not a member row
        audit.record(
            uow, "client.owner_changed", Caller(), user_id=fate.new_owner_id,
            client_id=client.client_id,
            reason="previous owner deleted account",
        )  # fmt: skip
    return fates


def _leave_apps(uow: UnitOfWork, user: Record) -> None:
    for client in uow.clients.visible_to(user.id):
        uow.members.remove(client.id, user.id)
    for invitation, _client, _inviter in uow.invitations.for_user(user.id):
        uow.invitations.delete(invitation)


def _pseudonymize_audit(uow: UnitOfWork, user_id: int, alias: str) -> None:
    while batch := uow.audit.about_user(user_id, limit=_PSEUDONYMIZE_BATCH):
        for event in batch:
            data = {k: v for k, v in (event.data or {}).items() if k not in IDENTIFYING}
            if event.user_id == user_id:
                event.user_id = None
                data["pseudonym"] = alias
                event.ip, event.user_agent = "", ""
            if data.get("target_user_id") == user_id:
                del data["target_user_id"]
                data["target_pseudonym"] = alias
            event.data = data  # a new dict: the JSON column sees only assignments


def _erase(user: Record, now: datetime) -> None:
    placeholder = f"deleted-{secrets.token_hex(8)}"
    user.username = user.username_key = placeholder
    user.email = user.email_key = f"{placeholder}@{DELETED_DOMAIN}"
    user.email_verified = False
    user.password_hash = ""  # matches no password: hashers refuse an empty hash
    user.external_id = None
    user.disabled_at = user.deleted_at = user.updated_at = now


# --- export ---------------------------------------------------------------------------------


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def export_account(
    uow: UnitOfWork, catalogue: ScopeCatalogue, caller: Caller, user: Record, current_digest: str
) -> dict[str, Any]:
    """Everything Tessera keeps about the user, as one JSON-ready document."""
    events = uow.audit.about_user(user.id, limit=EXPORT_EVENT_LIMIT)
    document = {
        "format": "tessera-account-export/1",
        "exported_at": _iso(utcnow()),
        "profile": {
            "subject": user.subject,
            "username": user.username,
            "email": user.email,
            "email_verified": bool(user.email_verified),
            "is_admin": bool(user.is_admin),
            "created_at": _iso(user.created_at),
            "password_changed_at": _iso(user.password_changed_at),
            "external_id": user.external_id,
        },
        "connected_apps": [
            _connected_app(a) for a in connected_apps.connected_apps(uow, catalogue, user.id)
        ],
        "developer_apps": [
            _developer_app(uow, c, user.id) for c in uow.clients.visible_to(user.id)
        ],
        "sessions": [
            _session(d) for d in login_sessions.signed_in_devices(uow, user.id, current_digest)
        ],
        "audit_events": [_event(e, user.id) for e in events],
        "audit_events_truncated": len(events) == EXPORT_EVENT_LIMIT,
    }
    audit.record(uow, "account.exported", caller, user_id=user.id)
    uow.commit()
    return document


def _event(event: Record, user_id: int) -> dict[str, Any]:
    """An audit event for the export; an admin's action on the user keeps the admin's IP and
    user agent out (they are the admin's data, not the user's)."""
    own = event.user_id == user_id
    return {
        "at": _iso(event.at),
        "event": event.event,
        "client_id": event.client_id,
        "ip": event.ip if own else None,
        "user_agent": event.user_agent if own else None,
        "data": event.data,
    }


def _connected_app(app: connected_apps.ConnectedApp) -> dict[str, Any]:
    return {
        "client_id": app.client_id,
        "name": app.name,
        "scopes": [s.name for s in app.scopes],
        "granted_at": _iso(app.granted_at),
        "last_used_at": _iso(app.last_used_at),
    }


def _developer_app(uow: UnitOfWork, client: Record, user_id: int) -> dict[str, Any]:
    role = apps.OWNER if client.owner_id == user_id else uow.members.role(client.id, user_id)
    return {"client_id": client.client_id, "name": client.name, "role": role}


def _session(device: login_sessions.SignedInDevice) -> dict[str, Any]:
    return {
        "device": device.device,
        "user_agent": device.user_agent,
        "ip": device.ip,
        "first_seen": _iso(device.first_seen),
        "last_seen": _iso(device.last_seen),
        "this_browser": device.current,
    }
