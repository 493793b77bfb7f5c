"""The revocation events as Server-Sent Events (docs/revocation-events.md).

A stream starts with a `snapshot` event (the feed's full document) unless the client resumes
with a Last-Event-ID the server still knows; then every published event follows as a
`revocation` event whose id is its seq. Events come from the database (the outbox), so a
stream needs no Redis and a reconnect loses nothing.

Threads: under `tessera serve` each open stream holds one thread of a bounded pool while it
waits (idp/serving.py), never the worker's event loop. So that this stays cheap, one watcher
thread per process learns of new events (with Redis: blocked on the revocation stream, so any
process's publication wakes it at once; without: reading the latest seq every POLL seconds, and
at once for this process's own publications) and the streams sleep on its condition; a stream ends after
TESSERA_SSE_MAX_DURATION and the client reconnects with Last-Event-ID.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import redis
from redis.exceptions import RedisError
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from idp.storage.revocation_outbox import RevocationOutbox, events_after, latest_seq

POLL = 0.1  # without Redis: seconds between reads of the latest seq (latency from other workers)
STREAM_BLOCK = 1.0  # with Redis: XREAD BLOCK on the revocation stream, then a read of the seq
SHORT_WAIT = 0.01
HEARTBEAT = 15.0  # a comment line, so proxies keep the connection and dead clients are noticed
RETRY_MS = 1000
CLOSED_CHECK = 0.5  # how soon a stream whose client left gives its thread back

_SLOTS: dict[int, threading.BoundedSemaphore] = {}
_SLOTS_LOCK = threading.Lock()


def stream_slot(limit: int) -> threading.BoundedSemaphore | None:
    """A slot among the process's `limit` open streams, or None when they are all taken."""
    with _SLOTS_LOCK:
        slots = _SLOTS.setdefault(limit, threading.BoundedSemaphore(limit))
    return slots if slots.acquire(blocking=False) else None


class SeqWatcher:
    """One per process: follows the latest seq while at least one stream listens."""

    def __init__(self, engine: Engine, outbox: RevocationOutbox) -> None:
        self.engine, self.outbox = engine, outbox
        self.latest = 0
        self.changed = threading.Condition()
        self._listeners = 0
        self._thread: threading.Thread | None = None
        self._redis: redis.Redis | None = None

    def join(self) -> None:
        with self.changed:
            self._listeners += 1
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="tessera-sse", daemon=True)
                self._thread.start()

    def leave(self) -> None:
        with self.changed:
            self._listeners -= 1

    def wait_beyond(self, seq: int, timeout: float) -> bool:
        """Wait until an event after `seq` may exist; False on timeout."""
        with self.changed:
            return self.changed.wait_for(lambda: self.latest > seq, timeout)

    def _run(self) -> None:
        stalled = False
        while True:
            moved = not stalled and self._stream_moved()
            if not moved:
                with self.outbox.sequenced:
                    self.outbox.sequenced.wait(SHORT_WAIT if stalled else POLL)
            try:
                latest = latest_seq(self.engine)
            except SQLAlchemyError:
                latest = self.latest  # the streams keep their heartbeat; the next read retries
            with self.changed:
                if self._listeners <= 0:
                    self._thread = None
                    return
                # Woken by the stream but nothing new in the database (a stream with another
                # history, until the outbox starts it again): wait a little, do not spin.
                stalled = moved and latest == self.latest
                if latest != self.latest:
                    self.latest = latest
                    self.changed.notify_all()

    def _stream_moved(self) -> bool:
        """With Redis, block on the revocation stream itself: any process's publication wakes
        every worker at once. False (poll the database instead) without it, or when it fails."""
        shared = self.outbox.shared
        if shared is None or self.outbox.key is None or not shared.available():
            return False
        if self._redis is None:
            self._redis = redis.Redis.from_url(
                shared.url, socket_connect_timeout=0.25, socket_timeout=STREAM_BLOCK + 1.0
            )
        try:
            self._redis.xread(
                {self.outbox.key: f"{self.latest}-0"}, count=1, block=int(STREAM_BLOCK * 1000)
            )
        except (RedisError, OSError) as exc:
            shared.failed(exc)
            return False
        return True


_WATCHERS: dict[int, SeqWatcher] = {}


def watcher_for(engine: Engine, outbox: RevocationOutbox) -> SeqWatcher:
    with _SLOTS_LOCK:
        watcher = _WATCHERS.get(id(outbox))
        if watcher is None:
            watcher = _WATCHERS[id(outbox)] = SeqWatcher(engine, outbox)
    return watcher


def _wait(watcher: SeqWatcher, seq: int, timeout: float, closed: threading.Event) -> bool:
    """Wait for an event after `seq`, in slices: the client may be gone meanwhile."""
    end = time.monotonic() + timeout
    while (left := end - time.monotonic()) > 0 and not closed.is_set():
        if watcher.wait_beyond(seq, min(left, CLOSED_CHECK)):
            return True
    return False


def sse(event: str, event_id: int, data: dict[str, Any]) -> bytes:
    body = json.dumps(data, separators=(",", ":"))
    return f"id: {event_id}\nevent: {event}\ndata: {body}\n\n".encode()


class EventStream:
    """The stream's bytes. Its slot is released by close(), which the server calls whether or
    not the body was ever iterated (a client gone before the first byte)."""

    def __init__(
        self,
        watcher: SeqWatcher,
        start: int,
        snapshot: dict[str, Any] | None,
        slot: threading.BoundedSemaphore,
        duration: float,
        closed: threading.Event,
    ) -> None:
        self._slot: threading.BoundedSemaphore | None = slot
        self._events = _events(watcher, start, snapshot, duration, closed)

    def __iter__(self) -> Iterator[bytes]:
        return self._events

    def close(self) -> None:
        self._events.close()
        slot, self._slot = self._slot, None
        if slot is not None:
            slot.release()


def _events(
    watcher: SeqWatcher,
    start: int,
    snapshot: dict[str, Any] | None,
    duration: float,
    closed: threading.Event,
) -> Iterator[bytes]:
    watcher.join()
    try:
        yield f"retry: {RETRY_MS}\n\n".encode()
        if snapshot is not None:
            yield sse("snapshot", start, snapshot)
        last, end = start, time.monotonic() + duration
        while (left := end - time.monotonic()) > 0 and not closed.is_set():
            try:
                events = events_after(watcher.engine, last)
            except SQLAlchemyError:
                time.sleep(1.0)  # the database is down: retry gently, the client sees no event
                continue
            for doc in events:
                yield sse("revocation", doc["seq"], doc)
                last = doc["seq"]
            if not events and not _wait(watcher, last, min(HEARTBEAT, left), closed):
                yield b": keep-alive\n\n"
    finally:
        watcher.leave()
