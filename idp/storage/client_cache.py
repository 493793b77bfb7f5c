"""A per-process cache of app policies for the token endpoint's hot path.

Loading an app and its secret digests was about 40% of a client_credentials request (two ORM
queries; see bench/README.md). Entries live TESSERA_CLIENT_CACHE_TTL seconds. Changes made in
this process invalidate at commit time (SQLAlchemy session events) and are handed to the
listeners added with `on_change`: with Redis, idp/storage/app_invalidation.py broadcasts them
so other workers and instances drop the app within a second; without it, they see the change
within the TTL. A presented secret that matches no cached digest is checked once more against
the database, so a freshly rotated secret works at once everywhere.

While the database is unreachable (idp.storage.outage), an entry past its TTL is still served
for up to TESSERA_OUTAGE_CLIENT_CACHE_GRACE seconds after it was loaded, so client_credentials
keeps working through a short outage; anything that needs the database answers 503.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable
from datetime import UTC

from sqlalchemy import event, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from idp.domain.clients import ClientPolicy
from idp.extensions import db
from idp.storage.models import Client, ClientSecret
from idp.storage.outage import OUTAGES, is_outage

MAX_ENTRIES = 10_000
ALL = object()


def load_policy(client_id: str) -> ClientPolicy | None:
    """One round trip: the app's row and its secret digests, without building ORM objects."""
    c = Client.__table__.c
    s = ClientSecret.__table__.c
    rows = db.session.execute(
        select(
            c.id,
            c.client_id,
            c.name,
            c.app_type,
            c.redirect_uris,
            c.post_logout_redirect_uris,
            c.grant_types,
            c.allowed_scopes,
            c.tier,
            c.custom_rps,
            c.custom_burst,
            c.require_pkce,
            c.access_token_ttl,
            c.refresh_token_ttl,
            c.suspended_at,
            c.first_party,
            c.token_exchange,
            s.digest,
            s.expires_at,
        )
        .select_from(Client.__table__.outerjoin(ClientSecret.__table__, s.client_pk == c.id))
        .where(c.client_id == client_id)
    ).all()
    return _policy_of(rows) if rows else None


def _policy_of(rows) -> ClientPolicy:
    """The app's policy from its rows (one per secret, or one without a secret)."""
    first = rows[0]
    return ClientPolicy(
        pk=first.id,
        client_id=first.client_id,
        name=first.name,
        app_type=first.app_type,
        redirect_uris=tuple(first.redirect_uris or ()),
        post_logout_redirect_uris=tuple(first.post_logout_redirect_uris or ()),
        grant_types=tuple(first.grant_types or ()),
        allowed_scopes=tuple(first.allowed_scopes or ()),
        tier=first.tier,
        custom_rps=first.custom_rps,
        custom_burst=first.custom_burst,
        require_pkce=first.require_pkce,
        access_token_ttl=first.access_token_ttl,
        refresh_token_ttl=first.refresh_token_ttl,
        suspended=first.suspended_at is not None,
        first_party=bool(first.first_party),
        token_exchange=bool(first.first_party and first.token_exchange),
        secret_digests=tuple(
            (r.digest, _timestamp(r.expires_at)) for r in rows if r.digest is not None
        ),
    )


def _timestamp(value) -> float | None:
    if value is None:
        return None
    if value.tzinfo is None:  # SQLite hands back naive UTC
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


class ClientPolicyCache:
    def __init__(
        self,
        ttl: float,
        loader: Callable[[str], ClientPolicy | None] = load_policy,
        *,
        outage_grace: float = 0,
    ) -> None:
        self.ttl = ttl
        self.outage_grace = outage_grace
        self._loader = loader
        self._entries: dict[str, tuple[float, ClientPolicy | None]] = {}
        self._lock = threading.Lock()
        self._generation = 0  # bumped by every invalidation

    def get(self, client_id: str, *, fresh: bool = False) -> ClientPolicy | None:
        now = time.monotonic()
        if self.ttl > 0 and not fresh:
            hit = self._entries.get(client_id)
            if hit is not None and now - hit[0] < self.ttl:
                return hit[1]
            if hit is not None and OUTAGES.recent() and now - hit[0] < self.outage_grace:
                return hit[1]  # the database failed a moment ago: do not wait on it again
        generation = self._generation
        try:
            policy = self._loader(client_id)
        except SQLAlchemyError as exc:
            return self._outage_fallback(client_id, now, exc, fresh)
        if self.ttl > 0:
            with self._lock:
                if generation != self._generation:
                    # An invalidation arrived while loading: what was read may predate it.
                    return policy
                if len(self._entries) >= MAX_ENTRIES:
                    self._entries.clear()  # unknown client_ids must not grow memory without bound
                self._entries[client_id] = (now, policy)
        return policy

    def _outage_fallback(
        self, client_id: str, now: float, exc: SQLAlchemyError, fresh: bool
    ) -> ClientPolicy | None:
        """The stale entry, within the grace, when the load failed for an outage; else raise.

        A fresh read (a secret that matched no cached digest) never falls back: 503 beats a
        wrong 401. The failed read's session is rolled back so the request can go on."""
        hit = None if fresh else self._entries.get(client_id)
        if hit is None or not is_outage(exc) or now - hit[0] >= self.outage_grace:
            raise exc
        OUTAGES.record(f"app {client_id} (served from cache)", exc)
        db.session.rollback()
        return hit[1]

    def invalidate(self, client_ids: set[str] | None = None) -> None:
        with self._lock:
            self._generation += 1
            if client_ids is None:
                self._entries.clear()
            else:
                for client_id in client_ids:
                    self._entries.pop(client_id, None)


_CACHES: weakref.WeakSet[ClientPolicyCache] = weakref.WeakSet()
_LISTENERS: list[Callable[[set[str] | None], None]] = []


def watch(cache: ClientPolicyCache) -> ClientPolicyCache:
    """Have commits in this process invalidate the apps they changed in `cache`."""
    _CACHES.add(cache)
    return cache


def invalidate_watched(client_ids: set[str] | None = None) -> None:
    """Drop these apps (None: all) from every watched cache of this process."""
    for cache in list(_CACHES):
        cache.invalidate(client_ids)


def on_change(listener: Callable[[set[str] | None], None]) -> None:
    """Call `listener` after each commit that changed apps (None: any app may have changed)."""
    if listener not in _LISTENERS:
        _LISTENERS.append(listener)


def remove_listener(listener: Callable[[set[str] | None], None]) -> None:
    if listener in _LISTENERS:
        _LISTENERS.remove(listener)


@event.listens_for(Session, "before_flush")
def _collect_changed_clients(session: Session, flush_context, instances) -> None:
    changed = session.info.setdefault("tessera_changed_clients", set())
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, Client):
            changed.add(obj.client_id)
        elif isinstance(obj, ClientSecret):
            changed.add(ALL)  # a removed secret no longer knows its app; secrets change rarely


@event.listens_for(Session, "after_commit")
def _invalidate_changed_clients(session: Session) -> None:
    changed = session.info.pop("tessera_changed_clients", None)
    if changed:
        client_ids = None if ALL in changed else changed
        invalidate_watched(client_ids)
        for listener in list(_LISTENERS):
            listener(client_ids)


@event.listens_for(Session, "after_rollback")
def _forget_changed_clients(session: Session) -> None:
    session.info.pop("tessera_changed_clients", None)
