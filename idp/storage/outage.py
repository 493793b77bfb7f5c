"""A database outage told apart from a bug, so every surface answers it with 503, never 500.

An outage is what retrying later can fix: the server is unreachable or restarting, a pooled
connection died, no connection came free in time, or a statement ran past
TESSERA_DB_STATEMENT_TIMEOUT (PostgreSQL cancels it: QueryCanceled, an OperationalError) or
SQLite's busy timeout. A broken constraint, a missing table or bad SQL is a bug: still a 500,
logged with its traceback. The surfaces map it in one place each: idp.web.errors (pages, the
API, the Flask JSON endpoints) and the machine endpoints (handed ``unavailable`` by idp.app).

Outages are logged without a traceback and at most once per LOG_EVERY seconds per process,
with how many requests were refused meanwhile: 5,000 identical tracebacks a minute would bury
the one line an operator needs.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time

from sqlalchemy import exc as sa_exc

from idp.errors import TemporarilyUnavailable

log = logging.getLogger(__name__)

DESCRIPTION = "The service is temporarily unavailable. Please try again in a few seconds."
LOG_EVERY = 10.0
# How long after a failure the client cache serves stale entries without asking the database
# again: during an outage each request would otherwise wait for a connection attempt.
BACKOFF = 1.0
# SQLite raises OperationalError for a missing table too; these messages are the transient ones.
_SQLITE_TRANSIENT = ("locked", "busy", "unable to open", "disk i/o")


def is_outage(exc: BaseException) -> bool:
    """Whether `exc` means the database is (for now) unreachable or too slow, not a bug."""
    if isinstance(exc, sa_exc.DisconnectionError | sa_exc.TimeoutError):
        return True  # TimeoutError: no pooled connection came free within the pool timeout
    if not isinstance(exc, sa_exc.DBAPIError):
        return False
    if exc.connection_invalidated or isinstance(exc, sa_exc.InterfaceError):
        return True
    if not isinstance(exc, sa_exc.OperationalError):
        return False  # IntegrityError, ProgrammingError, DataError...: bugs or bad data
    if isinstance(exc.orig, sqlite3.OperationalError):
        return any(word in str(exc.orig).lower() for word in _SQLITE_TRANSIENT)
    return True  # psycopg: connection failures, shutdown, QueryCanceled, serialization, deadlock


class _Outages:
    """When this process last saw the database fail, and the throttled log of it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.last_failure = float("-inf")
        self._last_log = float("-inf")
        self._unlogged = 0

    def record(self, where: str, exc: BaseException) -> None:
        now = time.monotonic()
        with self._lock:
            self.last_failure = now
            self._unlogged += 1
            if now - self._last_log < LOG_EVERY:
                return
            count, self._unlogged, self._last_log = self._unlogged, 0, now
        log.warning(
            "database unavailable (%d failure(s) in the last %.0f s, the latest on %s): %s",
            count,
            LOG_EVERY,
            where,
            first_line(exc),
        )

    def recent(self) -> bool:
        return 0 <= time.monotonic() - self.last_failure < BACKOFF

    def forget(self) -> None:
        """Back to "no failure seen" (tests: a clock moved by freezegun must not linger)."""
        with self._lock:
            self.last_failure = self._last_log = float("-inf")
            self._unlogged = 0


OUTAGES = _Outages()


def first_line(exc: BaseException) -> str:
    cause = getattr(exc, "orig", None) or exc
    text = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {text[0] if text else ''}"


def unavailable(exc: BaseException, where: str = "") -> TemporarilyUnavailable | None:
    """The 503 to answer for `exc` when it is an outage (logged, throttled), else None."""
    if not is_outage(exc):
        return None
    OUTAGES.record(where, exc)
    return TemporarilyUnavailable(DESCRIPTION, detail=first_line(exc))
