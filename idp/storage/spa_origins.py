"""The set of origins some SPA app registered, for CORS preflights (idp.domain.cors).

A preflight carries no client_id and no token, only an Origin: it is granted when any SPA app
registered that origin; the answer to the real request then checks the origin against the one
app that authenticated (or whose token it is). Read from the database at most once per
`ttl` seconds per process: a preflight is cheap, and an app's new redirect URI reaches
preflights within the client cache's TTL, as it reaches the token endpoint.
"""

from __future__ import annotations

import threading
import time

from sqlalchemy import select

from idp.domain.cors import CORS_APP_TYPES, allowed_origins
from idp.extensions import db
from idp.storage.models import Client


class SpaOrigins:
    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._lock = threading.Lock()
        self._origins: frozenset[str] = frozenset()
        self._loaded_at: float | None = None

    def __contains__(self, origin: object) -> bool:
        return isinstance(origin, str) and origin in self._current()

    def _current(self) -> frozenset[str]:
        now = time.monotonic()
        with self._lock:
            if self._loaded_at is not None and now - self._loaded_at < self.ttl:
                return self._origins
        c = Client.__table__.c
        rows = db.session.execute(
            select(c.app_type, c.redirect_uris).where(c.app_type.in_(sorted(CORS_APP_TYPES)))
        ).all()
        origins = frozenset().union(*(allowed_origins(t, uris or ()) for t, uris in rows))
        with self._lock:
            self._origins, self._loaded_at = origins, now
        return origins
