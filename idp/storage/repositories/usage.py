"""Per-app daily counters (tokens issued, token-endpoint errors by code, active users), for
the developer portal's usage page.

Counting happens on the token endpoint's hot path, so it is kept in memory and written in
batches: one upsert per (app, day) every TESSERA_USAGE_FLUSH_INTERVAL seconds, in its own
transaction after the response's. `INSERT ... ON CONFLICT (client_pk, day) DO UPDATE SET
tokens_issued = tokens_issued + n` is atomic on SQLite (3.24+) and PostgreSQL, so workers
flushing at once never lose a count. A worker killed without a graceful stop loses at most
one interval of counts: acceptable for a chart, not for billing. While the database is out
of reach, counts stay in memory and are written by the first flush after it is back.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import date

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from idp.extensions import db
from idp.storage.models import UsageActiveUser, UsageDaily, UsageErrorDaily
from idp.storage.outage import OUTAGES, is_outage

log = logging.getLogger(__name__)


TOKENS, ERROR, USER = "tokens", "error", "user"
# A pending count: (client_pk, day, what, detail): detail is "" for tokens, the error code for
# an error, the user id (as text) for an active user.
Key = tuple[int, date, str, str]


def _upsert(session: Session, key: Key, count: int) -> None:
    client_pk, day, what, detail = key
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    if what == USER:  # a set, not a sum: seen once a day is enough
        table = UsageActiveUser.__table__
        statement = dialect.insert(table).values(client_pk=client_pk, day=day, user_id=int(detail))
        session.execute(statement.on_conflict_do_nothing())
        return
    if what == ERROR:
        table, column, where = UsageErrorDaily.__table__, "count", {"error": detail}
        index = [table.c.client_pk, table.c.day, table.c.error]
    else:
        table, column, where = UsageDaily.__table__, "tokens_issued", {}
        index = [table.c.client_pk, table.c.day]
    statement = dialect.insert(table).values(
        client_pk=client_pk, day=day, **where, **{column: count}
    )
    statement = statement.on_conflict_do_update(
        index_elements=index, set_={column: table.c[column] + count}
    )
    session.execute(statement)


class UsageCounter:
    def __init__(self, flush_interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._interval = flush_interval
        self._clock = clock
        self._pending: Counter[Key] = Counter()
        self._lock = threading.Lock()
        self._last_flush = clock()
        self._engine = None
        atexit.register(self._flush_at_exit)

    def count(self, client_pk: int, day: date, user_id: int | None = None) -> None:
        """A token issued (to `user_id`, when it acts for a user)."""
        with self._lock:
            self._pending[(client_pk, day, TOKENS, "")] += 1
            if user_id is not None:
                self._pending[(client_pk, day, USER, str(user_id))] = 1

    def count_error(self, client_pk: int, day: date, error: str) -> None:
        """A token-endpoint error answered to this app (an RFC 6749 5.2 code)."""
        with self._lock:
            self._pending[(client_pk, day, ERROR, error[:40])] += 1

    def flush_if_due(self) -> None:
        if self._pending and self._clock() - self._last_flush >= self._interval:
            self.flush()

    def flush(self) -> None:
        """Write what this process counted; needs an app context (for the engine)."""
        with self._lock:
            pending, self._pending = self._pending, Counter()
            self._last_flush = self._clock()
        if not pending:
            return
        self._engine = db.engine
        try:
            self._write(pending)
        except SQLAlchemyError as exc:
            if is_outage(exc):  # one attempt per interval, not one per app, while it is down
                self._keep(pending)
                OUTAGES.record("usage counters (kept for the next flush)", exc)
            else:
                self._write_one_by_one(pending)

    def _keep(self, pending: Counter[Key]) -> None:
        with self._lock:
            self._pending.update(pending)

    def _write(self, pending: Counter[Key]) -> None:
        with Session(self._engine) as session:
            for key, count in sorted(pending.items()):
                _upsert(session, key, count)
            session.commit()

    def _write_one_by_one(self, pending: Counter[Key]) -> None:
        """After a failed batch: drop counts of deleted apps, keep the rest for the next flush."""
        for key, count in pending.items():
            try:
                self._write(Counter({key: count}))
            except IntegrityError:
                log.info("usage count for deleted app %s dropped", key[0])
            except SQLAlchemyError:
                log.warning("usage counters not written; retrying later", exc_info=True)
                self._keep(Counter({key: count}))

    def _flush_at_exit(self) -> None:
        if not self._pending or self._engine is None:
            return
        try:
            self._write(self._pending)
        except SQLAlchemyError as exc:
            log.warning("usage counts of this process lost at exit: %s", exc)
