"""Per-app daily counters (tokens issued), for the developer portal's usage chart.

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
from idp.storage.models import UsageDaily
from idp.storage.outage import OUTAGES, is_outage

log = logging.getLogger(__name__)


def _upsert(session: Session, client_pk: int, day: date, count: int) -> None:
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    table = UsageDaily.__table__
    statement = dialect.insert(table).values(client_pk=client_pk, day=day, tokens_issued=count)
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.client_pk, table.c.day],
        set_={"tokens_issued": table.c.tokens_issued + count},
    )
    session.execute(statement)


class UsageCounter:
    def __init__(self, flush_interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._interval = flush_interval
        self._clock = clock
        self._pending: Counter[tuple[int, date]] = Counter()
        self._lock = threading.Lock()
        self._last_flush = clock()
        self._engine = None
        atexit.register(self._flush_at_exit)

    def count(self, client_pk: int, day: date) -> None:
        with self._lock:
            self._pending[(client_pk, day)] += 1

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

    def _keep(self, pending: Counter[tuple[int, date]]) -> None:
        with self._lock:
            self._pending.update(pending)

    def _write(self, pending: Counter[tuple[int, date]]) -> None:
        with Session(self._engine) as session:
            for (client_pk, day), count in sorted(pending.items()):
                _upsert(session, client_pk, day, count)
            session.commit()

    def _write_one_by_one(self, pending: Counter[tuple[int, date]]) -> None:
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
