"""The apps a user has authorized, and taking that authorization back (docs/security.md#22).

Revoking goes through revocation.revoke_grant: the grant's refresh tokens die at once and its
gid enters the revocation feed, so resource servers drop its access tokens within one poll.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from idp.domain.clock import utcnow
from idp.domain.scopes import ScopeCatalogue
from idp.services import audit, revocation
from idp.services.context import Caller
from idp.services.ports import UnitOfWork


class NotConnected(LookupError):
    """No active grant with this gid belongs to the user (unknown, revoked or someone else's)."""


@dataclass(frozen=True)
class GrantedScope:
    name: str
    description: str
    restricted: bool


@dataclass(frozen=True)
class ConnectedApp:
    gid: str
    client_id: str
    name: str
    developer: str | None
    verified: bool
    suspended: bool
    homepage_url: str
    scopes: tuple[GrantedScope, ...]
    granted_at: datetime
    last_used_at: datetime | None
    implied: bool = False  # a first-party app: consent implied, not asked (docs/federation.md)


def _scopes_in_words(catalogue: ScopeCatalogue, scopes: str) -> tuple[GrantedScope, ...]:
    out = []
    for name in scopes.split():
        scope = catalogue.get(name)
        # A scope removed from the catalogue since the grant still shows, by its name.
        out.append(
            GrantedScope(name, scope.description, scope.restricted)
            if scope
            else GrantedScope(name, name, False)
        )
    return tuple(out)


def _latest(*moments: datetime | None) -> datetime | None:
    known = [m for m in moments if m is not None]
    return max(known) if known else None


def connected_apps(uow: UnitOfWork, catalogue: ScopeCatalogue, user_id: int) -> list[ConnectedApp]:
    """Every app holding an active grant from this user, most recently used first."""
    found = []
    for grant in uow.grants.active_for_user(user_id):
        client = uow.clients.get(grant.client_pk)
        if client is None:
            continue
        owner = uow.users.get(client.owner_id) if client.owner_id else None
        found.append(
            ConnectedApp(
                gid=grant.gid,
                client_id=client.client_id,
                name=client.name,
                developer=owner.username if owner else None,
                verified=bool(client.verified),
                suspended=client.suspended_at is not None,
                homepage_url=client.homepage_url or "",
                scopes=_scopes_in_words(catalogue, grant.scopes),
                granted_at=grant.created_at,
                last_used_at=_latest(
                    grant.last_used_at, uow.access_tokens.last_issued_for_grant(grant.id)
                ),
                implied=bool(getattr(grant, "implied", False)),
            )
        )
    found.sort(key=lambda a: a.last_used_at or a.granted_at, reverse=True)
    return found


def revoke(
    uow: UnitOfWork,
    window: revocation.RevocationWindow,
    caller: Caller,
    user_id: int,
    gid: str,
    now: datetime | None = None,
) -> str:
    """End the user's grant `gid`; returns the app's name. NotConnected when it is not theirs."""
    grant = uow.grants.by_gid(gid) if isinstance(gid, str) and len(gid) <= 32 else None
    if grant is None or grant.user_id != user_id or grant.revoked_at is not None:
        raise NotConnected(gid)
    client = uow.clients.get(grant.client_pk)
    revocation.revoke_grant(uow, window, grant, now or utcnow())
    audit.record(
        uow,
        "grant.revoked",
        caller,
        user_id=user_id,
        client_id=client.client_id if client else None,
        gid=grant.gid,
        by="user",
    )
    uow.commit()
    return client.name if client else "The app"
