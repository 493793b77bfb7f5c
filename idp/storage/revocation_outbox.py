"""The revocation events table as a transactional outbox for the pushed channels.

An event row commits with the change that caused it. After the commit (the session hook at the
bottom, in the committing request) and then every FLUSH_INTERVAL seconds (a thread in each
`tessera serve` worker), `flush` does two things, each in one short transaction:

1. sequence: committed events without a `seq` get the next numbers, in id order. `seq` is
   the publication order: consecutive, so a consumer that sees a jump knows it missed events.
2. push (with TESSERA_REDIS_URL): events with a seq and `pushed` false are XADDed to the
   stream, in seq order, with the explicit entry id `<seq>-0`, and marked pushed. Redis refuses
   an id at or below the stream's last one, so a second publish of an event (a publisher that
   died between XADD and its commit, or two racing) is a no-op; the row is marked all the same.
   Redis down: the rows stay unpushed and the next flush, in any process, sends them, in order.

Each of those transactions holds one lock (PostgreSQL: an advisory transaction lock;
SQLite: the database's single writer, taken by the first UPDATE): publishers in several workers
and instances take turns for milliseconds, none is elected, and none can be lost.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Any

from flask import current_app, has_app_context
from redis.exceptions import RedisError, ResponseError
from sqlalchemy import event, select, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from idp.services.revocation import event_document
from idp.storage.models import RevocationEvent
from idp.storage.redis_state import SharedRedis

log = logging.getLogger(__name__)

BATCH = 500
FLUSH_INTERVAL = 1.0
STREAM_SUFFIX = ":revocations"
# Any constant works: it only has to be the same in every Tessera process of one database.
ADVISORY_LOCK = 0x7E55E4A

_SEQUENCE_NEXT = text(
    "UPDATE revocation_events SET seq = (SELECT COALESCE(MAX(seq), 0) + 1 FROM revocation_events)"
    " WHERE id = (SELECT MIN(id) FROM revocation_events WHERE seq IS NULL)"
)
_events = RevocationEvent.__table__
_COLUMNS = (
    _events.c.id,
    _events.c.seq,
    _events.c.kind,
    _events.c.subject,
    _events.c.until,
    _events.c.created_at,
)  # through the table, so SQLite's datetimes come back typed
_UNPUSHED = (
    select(*_COLUMNS)
    .where(_events.c.pushed.is_(False), _events.c.seq.is_not(None))
    .order_by(_events.c.seq)
    .limit(BATCH)
)
_LATEST = text("SELECT COALESCE(MAX(seq), 0) FROM revocation_events")


def stream_key(shared: SharedRedis) -> str:
    """`tessera:<digest of the issuer>:revocations`: the middleware derives the same default."""
    return shared.prefix + STREAM_SUFFIX


class RevocationOutbox:
    """Sequences committed revocation events and pushes them to the Redis stream."""

    def __init__(self, shared: SharedRedis | None, maxlen: int) -> None:
        self.shared, self.maxlen = shared, maxlen
        self.key = stream_key(shared) if shared is not None else None
        self.sequenced = threading.Condition()  # notified when this process sequences events
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def flush(self, engine: Engine) -> int:
        """Sequence and push what is pending; the number of events sequenced. Never raises."""
        with self._lock:
            try:
                # Two transactions: the seq is committed before the XADD, so whoever the stream
                # wakes (SSE streams in every worker) finds the event in the database.
                with engine.begin() as conn:
                    _lock(conn)
                    sequenced = _sequence(conn)
                if self.shared is not None:
                    with engine.begin() as conn:
                        _lock(conn)
                        self._push(conn)
            except SQLAlchemyError as exc:
                # SQLite under a concurrent writer, or a database outage: the next flush retries.
                log.warning("revocation outbox flush failed, retrying later: %s", exc)
                return 0
        if sequenced:
            with self.sequenced:
                self.sequenced.notify_all()
        return sequenced

    def _push(self, conn: Connection) -> None:
        shared = self.shared
        if shared is None or not shared.available():
            return
        rows = conn.execute(_UNPUSHED).all()
        if not rows:
            return
        pipe = shared.client.pipeline(transaction=False)
        for row in rows:
            payload = json.dumps(event_document(row), separators=(",", ":"))
            pipe.xadd(self.key, {"event": payload}, id=f"{row.seq}-0", maxlen=self.maxlen)
        try:
            results = pipe.execute(raise_on_error=False)
        except RedisError as exc:
            shared.failed(exc)
            return
        shared.succeeded()
        done = []
        for row, result in zip(rows, results, strict=True):
            # "equal or smaller": the entry is there already (a duplicate), unless foreign.
            if isinstance(result, ResponseError) and (
                "equal or smaller" not in str(result) or self._foreign(conn, shared)
            ):
                log.warning("could not push revocation event %s: %s", row.seq, result)
                break  # the rest waits, so the stream keeps its order
            done.append(row.id)
        if done:
            conn.execute(_events.update().where(_events.c.id.in_(done)).values(pushed=True))

    def _foreign(self, conn: Connection, shared: SharedRedis) -> bool:
        """A refused id is a duplicate, unless the stream runs past everything this database
        ever sequenced: it then holds another history (a database restored or replaced under a
        Redis that kept the stream). It is dropped, and the next flush starts it again."""
        try:
            last = shared.client.xrevrange(self.key, count=1)
        except RedisError as exc:
            shared.failed(exc)
            return True
        ours = int(conn.execute(_LATEST).scalar() or 0)
        if not last or int(_text(last[0][0]).partition("-")[0]) <= ours:
            return False
        log.warning(
            "the revocation stream %s ran ahead of this database: starting it again", self.key
        )
        try:
            shared.client.delete(self.key)
        except RedisError as exc:
            shared.failed(exc)
        return True

    def start(self, engine: Engine) -> None:
        """The per-process publisher that picks up what a commit-time flush could not push."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, args=(engine,), name="tessera-revocation-outbox", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def _run(self, engine: Engine) -> None:
        while not self._stop.wait(FLUSH_INTERVAL):
            self.flush(engine)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _lock(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": ADVISORY_LOCK})


def _sequence(conn: Connection) -> int:
    count = 0
    while count < BATCH and conn.execute(_SEQUENCE_NEXT).rowcount:
        count += 1
    return count


def events_after(engine: Engine, seq: int, limit: int = BATCH) -> list[dict[str, Any]]:
    """Published events after `seq`, as documents, in order (the SSE stream's source)."""
    with engine.connect() as conn:
        query = select(*_COLUMNS).where(_events.c.seq > seq).order_by(_events.c.seq).limit(limit)
        return [event_document(row) for row in conn.execute(query)]


def latest_seq(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(_LATEST).scalar() or 0)


def _outbox() -> tuple[RevocationOutbox, Callable[[], Engine]] | None:
    if not has_app_context():
        return None
    tessera = current_app.extensions.get("tessera")
    outbox = getattr(tessera, "outbox", None)
    if outbox is None:
        return None
    from idp.extensions import db

    return outbox, lambda: db.engine


@event.listens_for(Session, "before_flush")
def _note_revocations(session: Session, flush_context: Any, instances: Any) -> None:
    if any(isinstance(obj, RevocationEvent) for obj in session.new):
        session.info["tessera_revocations"] = True


@event.listens_for(Session, "after_commit")
def _publish_after_commit(session: Session) -> None:
    # The revoking call returns only once its events are sequenced (and pushed, Redis willing):
    # a resource server hears of a revocation before the client that made it hears back.
    if session.info.pop("tessera_revocations", None):
        found = _outbox()
        if found is not None:
            outbox, engine = found
            outbox.flush(engine())


@event.listens_for(Session, "after_rollback")
def _forget_revocations(session: Session) -> None:
    session.info.pop("tessera_revocations", None)
